"""Dramatiq: ``actor.send()`` on a ``RedisBroker``; workers are the ``dramatiq`` CLI.

Fastest sensible settings (Dramatiq docs, "Cookbook" / CLI): ``--processes 1 --threads C``, no
results middleware, ``max_retries=0`` on the actors. Dramatiq has no batch enqueue API (a
``group`` sends one message at a time); its actors are sync, so the sleep task is
``time.sleep(0.01)`` in a thread."""

from __future__ import annotations

import os
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks import probe
from benchmarks.peers.base import Adapter, drive_module

broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://localhost"))
dramatiq.set_broker(broker)


@dramatiq.actor(max_retries=0)
def noop() -> None:
    probe.done()


@dramatiq.actor(max_retries=0)
def sleep() -> None:
    time.sleep(0.01)
    probe.done()


@dramatiq.actor(max_retries=0)
def stamp(i: int) -> None:
    probe.started(i)


FUNCS = {"noop": noop, "sleep": sleep}


class Dramatiq(Adapter):
    name = "dramatiq"
    settings = "RedisBroker, `dramatiq --processes 1 --threads C`, max_retries=0, no results; no batch API"

    async def enqueue(self, kind: str, i: int = 0) -> None:
        if kind == "stamp":
            stamp.send(i)
        else:
            FUNCS[kind].send()

    def worker_argv(self, concurrency: int) -> list[str]:
        return [self.bin("dramatiq"), "benchmarks.peers.dramatiq", "--processes", "1", "--threads", str(concurrency)]


ADAPTER = Dramatiq

if __name__ == "__main__":
    drive_module(__spec__.name)
