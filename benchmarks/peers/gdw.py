"""gdw: a producer-only ``TaskQueue`` on ``RedisStorage``; workers are ``gdw worker`` processes
(the CLI an operator runs) with their defaults: status tracking, leases, heartbeat, results kept
under the default retention."""

from __future__ import annotations

import os
import sys

from benchmarks.peers.base import Adapter, drive_module
from gdw_core import TaskQueue
from gdw_core.storage.redis import RedisStorage

TASKS = "benchmarks.peers.gdw_tasks"


class Gdw(Adapter):
    name = "gdw"
    settings = "`gdw worker --concurrency C` defaults (lease 30 s, results kept, default retention); `submit_many`"
    has_batch = True

    async def open(self) -> None:
        self.queue = TaskQueue(worker_count=0, storage=RedisStorage.from_url(os.environ["BENCH_REDIS_URL"]))
        await self.queue.open_storage()

    async def close(self) -> None:
        await self.queue.shutdown()

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            await self.queue.submit(f"{TASKS}:stamp", i)
        else:
            await self.queue.submit(f"{TASKS}:{kind}")

    async def enqueue_batch(self, kind: str, n: int) -> None:
        await self.queue.submit_many(f"{TASKS}:{kind}", [() for _ in range(n)])

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "gdw_core.cli", "worker", TASKS, "--redis", os.environ["BENCH_REDIS_URL"],
                "--concurrency", str(concurrency), "--log-level", "warning"]  # fmt: skip


ADAPTER = Gdw

if __name__ == "__main__":
    drive_module(__spec__.name)
