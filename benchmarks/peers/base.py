"""What every system's adapter provides, and the one driver that times them all the same way.

An adapter module (``benchmarks/peers/<name>.py``) defines its tasks, an :class:`Adapter` subclass
and ``if __name__ == "__main__": drive(TheAdapter())``. The harness runs it in the system's own
Python (``python -m benchmarks.peers.<name> '<json job>'``); the driver runs one scenario against
the Redis URL it is given and prints one ``BENCH-RESULT {json}`` line.

Worker processes are started with the system's own worker command (``worker_argv``) in their own
process group, with ``BENCH_REDIS_URL`` and ``BENCH_CONCURRENCY`` in the environment, and stopped
(SIGTERM, then SIGKILL) before the driver returns. Tasks report through :mod:`benchmarks.probe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import redis

from benchmarks import probe

ROOT = Path(__file__).resolve().parents[2]
MARK = "BENCH-RESULT "
#: latency probes per run, submitted this far apart (seconds)
PROBES = 300
PROBE_GAP = 0.002
WARMUP = 50


class Adapter:
    #: registry name, e.g. "arq"
    name = "?"
    #: the settings used, in words (shown in docs/performance.md)
    settings = ""
    #: the system has a batch / pipelined enqueue API
    has_batch = False
    #: one worker process runs several tasks at once (RQ does not)
    concurrent = True

    async def open(self) -> None:
        """Connect the producer."""

    async def close(self) -> None:
        """Disconnect the producer."""

    async def enqueue(self, kind: str, i: int = 0) -> None:
        """Submit one task: ``kind`` is ``noop``, ``sleep`` or ``stamp`` (which takes ``i``)."""
        raise NotImplementedError

    async def enqueue_batch(self, kind: str, n: int) -> None:
        """Submit ``n`` tasks of ``kind`` with the system's batch / pipelined API."""
        raise NotImplementedError

    def worker_argv(self, concurrency: int) -> list[str]:
        """The command that runs one worker process with ``concurrency`` slots."""
        raise NotImplementedError

    def bin(self, script: str) -> str:
        """A console script installed next to this Python (``arq``, ``celery``, ...)."""
        return str(Path(sys.executable).parent / script)


# -- worker processes ---------------------------------------------------------------------------
class Workers:
    def __init__(self, adapter: Adapter, url: str, concurrency: int, processes: int) -> None:
        self.argv = adapter.worker_argv(concurrency)
        env = {**os.environ, "BENCH_REDIS_URL": url, "BENCH_CONCURRENCY": str(concurrency)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        # closed in stop()
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{adapter.name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.procs = [
            subprocess.Popen(
                self.argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
            )
            for _ in range(processes)
        ]

    def check(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"worker exited with {p.returncode}: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-1500:]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for p in self.procs:  # children a worker forked (process pools) go with their group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        self.log.close()
        os.unlink(self.log.name)


async def wait_done(
    client: redis.Redis, workers: Workers, n: int, timeout: float, budget: float | None = None
) -> tuple[int, float, float]:
    """Until ``n`` tasks finished, or ``budget`` seconds after the first one did (slow systems
    are timed on what they finished by then); (finished, first finish, last finish)."""
    deadline = time.monotonic() + timeout
    started: float | None = None
    while True:
        total, first, last = probe.read_done(client)
        if total >= n:
            return total, first, last
        if total and started is None:
            started = time.monotonic()
        if budget is not None and started is not None and time.monotonic() - started > budget and total > 1:
            return total, first, last
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {total} of {n} tasks finished within {timeout:.0f}s")
        workers.check()
        await asyncio.sleep(0.02)


def redis_cpu(client: redis.Redis) -> float:
    """CPU seconds (user + system) the Redis server has used, from INFO cpu."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# -- scenarios ------------------------------------------------------------------------------------
async def fill(adapter: Adapter, kind: str, n: int) -> None:
    """Queue ``n`` tasks before a drain (not timed): the batch API, else 50 submits at a time."""
    if adapter.has_batch:
        await adapter.enqueue_batch(kind, n)
        return
    for start in range(0, n, 50):
        await asyncio.gather(*(adapter.enqueue(kind) for _ in range(min(50, n - start))))


async def enqueue(adapter: Adapter, client: redis.Redis, job: dict[str, Any]) -> dict[str, Any]:
    n = job["n"]
    t0 = time.perf_counter()
    for _ in range(n):
        await adapter.enqueue("noop")
    out: dict[str, Any] = {"enqueue single /s": n / (time.perf_counter() - t0)}
    client.flushall()
    if adapter.has_batch:
        t0 = time.perf_counter()
        await adapter.enqueue_batch("noop", n)
        out["enqueue batch /s"] = n / (time.perf_counter() - t0)
    else:
        out["enqueue batch /s"] = "no batch API"
    return out


async def drain(adapter: Adapter, client: redis.Redis, job: dict[str, Any]) -> dict[str, Any]:
    n, kind = job["n"], job.get("kind", "noop")
    if kind == "sleep" and not adapter.concurrent:
        return {"rate": "n/a: one task at a time per process"}
    await fill(adapter, kind, n)
    cpu0 = redis_cpu(client)  # Redis CPU from here to the last finish, per finished task
    workers = Workers(adapter, job["url"], job["concurrency"], job.get("processes", 1))
    try:
        done, first, last = await wait_done(client, workers, n, job.get("timeout", 120), job.get("budget"))
        cpu = redis_cpu(client) - cpu0
    finally:
        workers.stop()
    # ``done`` tasks finished within (last - first) counting from the first one: done - 1 intervals
    out: dict[str, Any] = {"rate": (done - 1) / max(last - first, 1e-9), "redis us/task": cpu * 1e6 / max(done, 1)}
    if done < n:
        out["finished"] = done
    return out


async def latency(adapter: Adapter, client: redis.Redis, job: dict[str, Any]) -> dict[str, Any]:
    load: subprocess.Popen[bytes] | None = None
    workers = Workers(adapter, job["url"], job["concurrency"], 1)
    try:
        for _ in range(WARMUP):
            await adapter.enqueue("noop")
        await wait_done(client, workers, WARMUP, 60)
        if job.get("rate"):
            load_job = {**job, "scenario": "load", "duration": PROBES * PROBE_GAP * 3 + 5}
            load = subprocess.Popen(
                [sys.executable, "-m", type(adapter).__module__, json.dumps(load_job)], cwd=ROOT, env=os.environ
            )
            await asyncio.sleep(1.0)  # reach a steady state first
        submitted: dict[int, float] = {}
        for i in range(PROBES):
            await asyncio.sleep(PROBE_GAP)
            submitted[i] = time.time()
            await adapter.enqueue("stamp", i)
        deadline = time.monotonic() + 30
        while client.llen(probe.LAT_KEY) < PROBES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {client.llen(probe.LAT_KEY)} of {PROBES} probes started")
            workers.check()
            await asyncio.sleep(0.01)
    finally:
        if load is not None:
            load.terminate()
            load.wait(10)
        workers.stop()
    lat = []
    for raw in client.lrange(probe.LAT_KEY, 0, -1):
        i, started = raw.decode().split()
        lat.append((float(started) - submitted[int(i)]) * 1000)
    lat.sort()
    return {"p50": statistics.median(lat), "p99": lat[max(0, round(len(lat) * 0.99) - 1)]}


async def background_load(adapter: Adapter, client: redis.Redis, job: dict[str, Any]) -> dict[str, Any]:
    """Submit no-op tasks at ``rate``/s for ``duration`` seconds (the latency scenario's load)."""
    rate, duration = job["rate"], job["duration"]
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < duration:
        due = int(rate * elapsed) - sent
        if due > 0:
            if adapter.has_batch and due > 1:
                await adapter.enqueue_batch("noop", due)
            else:
                for _ in range(due):
                    await adapter.enqueue("noop")
            sent += due
        await asyncio.sleep(0.005)
    return {"sent": sent}


SCENARIOS = {"enqueue": enqueue, "drain": drain, "latency": latency, "load": background_load}


async def run(adapter: Adapter, job: dict[str, Any]) -> dict[str, Any]:
    client = redis.Redis.from_url(job["url"])
    if job["scenario"] != "load":
        client.flushall()
    await adapter.open()
    try:
        return await SCENARIOS[job["scenario"]](adapter, client, job)
    finally:
        await adapter.close()
        client.close()


def drive_module(module: str) -> None:
    """Drive the ``ADAPTER`` of ``module``, imported under its own name (not ``__main__``), so
    that the task functions have the importable names worker processes look them up by."""
    drive(importlib.import_module(module).ADAPTER())


def drive(adapter: Adapter) -> None:
    job = json.loads(sys.argv[1])
    try:
        out = asyncio.run(run(adapter, job))
    except Exception as exc:
        traceback.print_exc()
        out = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(MARK + json.dumps(out), flush=True)
