"""RQ: ``Queue.enqueue`` and the pipelined ``Queue.enqueue_many``; workers are ``rq worker``.

Fastest sensible settings (RQ docs, "Workers" / "Performance notes"): ``SimpleWorker`` (no fork
per job), ``result_ttl=0`` (nothing reads results). An RQ worker process runs one job at a time:
concurrency 10/100 means 1 here, and the sleep-bound scenario is not run for it."""

from __future__ import annotations

import os
import time

from redis import Redis
from rq import Queue

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module


def noop() -> None:
    probe.done()


def sleep() -> None:
    time.sleep(0.01)
    probe.done()


def stamp(i: int) -> None:
    probe.started(i)


FUNCS = {"noop": noop, "sleep": sleep, "stamp": stamp}


class Rq(Adapter):
    name = "rq"
    settings = "`rq worker -w rq.worker.SimpleWorker`, result_ttl=0, `enqueue_many`; one job at a time per process"
    has_batch = True
    concurrent = False

    async def open(self) -> None:
        self.conn = Redis.from_url(os.environ["BENCH_REDIS_URL"])
        self.queue = Queue("default", connection=self.conn)

    async def close(self) -> None:
        self.conn.close()

    async def enqueue(self, kind: str, i: int = 0) -> None:
        args = (i,) if kind == "stamp" else ()
        self.queue.enqueue(FUNCS[kind], *args, result_ttl=0)

    async def enqueue_batch(self, kind: str, n: int) -> None:
        self.queue.enqueue_many([Queue.prepare_data(FUNCS[kind], result_ttl=0) for _ in range(n)])

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("rq"), "worker", "--url", os.environ["BENCH_REDIS_URL"], "-w", "rq.worker.SimpleWorker",
                "--logging_level", "WARNING", "default"]  # fmt: skip


ADAPTER = Rq

if __name__ == "__main__":
    drive_module(__spec__.name)
