"""streaq: ``task.enqueue()`` and the pipelined ``Worker.enqueue_many``; workers are ``streaq run``.

Fastest sensible settings (streaq docs, "Worker"): ``Worker(concurrency=C)`` (prefetch defaults to
the concurrency), results kept with the default TTL, ``streaq run --workers 1``."""

from __future__ import annotations

import asyncio
import os

from streaq import Worker

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module

worker = Worker(
    redis_url=os.environ.get("BENCH_REDIS_URL", "redis://localhost"),
    concurrency=int(os.environ.get("BENCH_CONCURRENCY", "10")),
)


@worker.task()
async def noop() -> None:
    probe.done()


@worker.task()
async def sleep() -> None:
    await asyncio.sleep(0.01)
    probe.done()


@worker.task()
async def stamp(i: int) -> None:
    probe.started(i)


FUNCS = {"noop": noop, "sleep": sleep}


class Streaq(Adapter):
    name = "streaq"
    settings = "Worker(concurrency=C), `streaq run --workers 1`, `Worker.enqueue_many`"
    has_batch = True

    async def open(self) -> None:
        await worker.__aenter__()

    async def close(self) -> None:
        await worker.__aexit__(None, None, None)

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            await stamp.enqueue(i)
        else:
            await FUNCS[kind].enqueue()

    async def enqueue_batch(self, kind: str, n: int) -> None:
        await worker.enqueue_many([FUNCS[kind].enqueue() for _ in range(n)])

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("streaq"), "run", "benchmarks.peers.streaq:worker", "--workers", "1"]


ADAPTER = Streaq

if __name__ == "__main__":
    drive_module(__spec__.name)
