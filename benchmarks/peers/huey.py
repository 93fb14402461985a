"""huey: calling a ``@huey.task`` enqueues it; workers are ``huey_consumer`` with thread workers.

Fastest sensible settings (huey docs, "Consuming tasks"): ``RedisHuey(results=False)``, blocking
dequeue (the default), ``-k thread -w C``, ``-n`` (no periodic-task scheduler). huey has no batch
enqueue API; its tasks are sync, so the sleep task is ``time.sleep(0.01)`` in a thread."""

from __future__ import annotations

import os
import time

from huey import RedisHuey

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module

huey = RedisHuey("bench", url=os.environ.get("BENCH_REDIS_URL", "redis://localhost"), results=False)


@huey.task()
def noop() -> None:
    probe.done()


@huey.task()
def sleep() -> None:
    time.sleep(0.01)
    probe.done()


@huey.task()
def stamp(i: int) -> None:
    probe.started(i)


FUNCS = {"noop": noop, "sleep": sleep, "stamp": stamp}


class Huey(Adapter):
    name = "huey"
    settings = "RedisHuey(results=False), blocking dequeue, `huey_consumer -k thread -w C -n`; no batch API"

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            stamp(i)
        else:
            FUNCS[kind]()

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("huey_consumer"), "benchmarks.peers.huey.huey", "-k", "thread", "-w", str(concurrency),
                "-n", "-q"]  # fmt: skip


ADAPTER = Huey

if __name__ == "__main__":
    drive_module(__spec__.name)
