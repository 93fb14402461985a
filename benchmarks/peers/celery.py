"""Celery: ``task.delay()`` with a Redis broker and no result backend; workers are ``celery worker``.

Fastest sensible settings (Celery docs, "Optimizing"): ``--pool threads -c C`` (no-op and sleep
tasks are I/O-bound; prefork would add a process per slot), ``task_ignore_result``, no result
backend, ``--without-gossip --without-mingle --without-heartbeat``, ``worker_prefetch_multiplier``
4 (the default). Celery has no batch enqueue API; its tasks are sync, so the sleep task is
``time.sleep(0.01)`` in a thread."""

from __future__ import annotations

import os
import time

from celery import Celery

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://localhost"))
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=4,
)


@app.task(name="noop")
def noop() -> None:
    probe.done()


@app.task(name="sleep")
def sleep() -> None:
    time.sleep(0.01)
    probe.done()


@app.task(name="stamp")
def stamp(i: int) -> None:
    probe.started(i)


FUNCS = {"noop": noop, "sleep": sleep}


class CeleryPeer(Adapter):
    name = "celery"
    settings = "Redis broker, no result backend, `celery worker --pool threads -c C --without-gossip --without-mingle --without-heartbeat`; no batch API"  # noqa: E501

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            stamp.delay(i)
        else:
            FUNCS[kind].delay()

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("celery"), "-A", "benchmarks.peers.celery:app", "worker", "--pool", "threads",
                "-c", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel", "WARNING"]  # fmt: skip


ADAPTER = CeleryPeer

if __name__ == "__main__":
    drive_module(__spec__.name)
