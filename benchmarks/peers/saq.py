"""SAQ: ``Queue.enqueue``; workers are the ``saq`` CLI with ``settings`` below.

Fastest sensible settings (SAQ README): ``concurrency`` = C, the default blocking dequeue
(no polling delay), one process (``--workers 1``). SAQ has no batch enqueue API (``Queue.map``
also waits for every result)."""

from __future__ import annotations

import asyncio
import os

from saq import Queue

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module


async def noop(ctx: dict) -> None:
    probe.done()


async def sleep(ctx: dict) -> None:
    await asyncio.sleep(0.01)
    probe.done()


async def stamp(ctx: dict, *, i: int) -> None:
    probe.started(i)


queue = Queue.from_url(os.environ.get("BENCH_REDIS_URL", "redis://localhost"))
settings = {
    "queue": queue,
    "functions": [noop, sleep, stamp],
    "concurrency": int(os.environ.get("BENCH_CONCURRENCY", "10")),
}


class Saq(Adapter):
    name = "saq"
    settings = "concurrency=C, blocking dequeue (default), `saq --workers 1`; no batch API"

    async def open(self) -> None:
        await queue.connect()

    async def close(self) -> None:
        await queue.disconnect()

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            await queue.enqueue("stamp", i=i)
        else:
            await queue.enqueue(kind)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("saq"), "benchmarks.peers.saq.settings", "--workers", "1", "--quiet"]


ADAPTER = Saq

if __name__ == "__main__":
    drive_module(__spec__.name)
