"""taskiq + taskiq-redis: ``task.kiq()`` on a ``ListQueueBroker`` (no result backend); workers
are ``taskiq worker``.

Fastest sensible settings (taskiq docs, "CLI" / taskiq-redis README): ``ListQueueBroker`` (a plain
BRPOP list, the simplest and fastest broker), no result backend, ``--workers 1
--max-async-tasks C``. taskiq has no batch enqueue API."""

from __future__ import annotations

import asyncio
import os

from taskiq_redis import ListQueueBroker

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module

broker = ListQueueBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://localhost"))


@broker.task
async def noop() -> None:
    probe.done()


@broker.task
async def sleep() -> None:
    await asyncio.sleep(0.01)
    probe.done()


@broker.task
async def stamp(i: int) -> None:
    probe.started(i)


FUNCS = {"noop": noop, "sleep": sleep}


class Taskiq(Adapter):
    name = "taskiq"
    settings = "ListQueueBroker, no result backend, `taskiq worker --workers 1 --max-async-tasks C`; no batch API"

    async def open(self) -> None:
        await broker.startup()

    async def close(self) -> None:
        await broker.shutdown()

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            await stamp.kiq(i)
        else:
            await FUNCS[kind].kiq()

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("taskiq"), "worker", "benchmarks.peers.taskiq:broker", "--workers", "1",
                "--max-async-tasks", str(concurrency), "--log-level", "WARNING"]  # fmt: skip


ADAPTER = Taskiq

if __name__ == "__main__":
    drive_module(__spec__.name)
