"""arq: ``ArqRedis.enqueue_job``; workers are the ``arq`` CLI with ``WorkerSettings`` below.

Fastest sensible settings (arq docs, "Worker settings"): ``max_jobs`` = concurrency,
``keep_result = 0`` (no result storage; nothing here reads results), ``poll_delay = 0.01`` (the
default 0.5 s would dominate latency; arq polls the queue rather than blocking), logging off.
arq has no batch enqueue API."""

from __future__ import annotations

import asyncio
import os

from arq import create_pool
from arq.connections import RedisSettings

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module


async def noop(ctx: dict) -> None:
    probe.done()


async def sleep(ctx: dict) -> None:
    await asyncio.sleep(0.01)
    probe.done()


async def stamp(ctx: dict, i: int) -> None:
    probe.started(i)


def _settings() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ["BENCH_REDIS_URL"])


class WorkerSettings:
    functions = [noop, sleep, stamp]
    redis_settings = _settings() if "BENCH_REDIS_URL" in os.environ else None
    max_jobs = int(os.environ.get("BENCH_CONCURRENCY", "10"))
    keep_result = 0
    poll_delay = 0.01
    log_results = False


class Arq(Adapter):
    name = "arq"
    settings = "max_jobs=C, keep_result=0, poll_delay=0.01 s, log_results=False; no batch API"

    async def open(self) -> None:
        self.pool = await create_pool(_settings())

    async def close(self) -> None:
        await self.pool.aclose()

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            await self.pool.enqueue_job("stamp", i)
        else:
            await self.pool.enqueue_job(kind)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("arq"), "benchmarks.peers.arq.WorkerSettings"]


ADAPTER = Arq

if __name__ == "__main__":
    drive_module(__spec__.name)
