"""Redis backend benchmark: starts its own redis-server on a free loopback port and one worker
process (concurrency 10), then measures and prints:

* single enqueue: tasks/s submitting one at a time (one round trip each)
* batch enqueue: tasks/s with one ``submit_many`` of all tasks (pipelined)
* drain: tasks/s one worker process completes no-op tasks
* idle latency: submit -> task start, p50 / p99, with an idle worker

Usage: /work/venv/bin/python benchmarks/redis_bench.py [--tasks 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from gdw_core import TaskQueue  # noqa: E402
from gdw_core.status import TaskStatus  # noqa: E402
from gdw_core.storage.protocol import Retention  # noqa: E402
from gdw_core.storage.redis import RedisStorage  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

WORKER = "import sys; from gdw_core.workerprocess import run_worker; sys.exit(run_worker(['bench_tasks'], sys.argv[1], concurrency=10, log_level='WARNING'))"  # noqa: E501


def start_worker(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}"}
    return subprocess.Popen([sys.executable, "-c", WORKER, url], cwd=HERE, env=env)


async def wait_for_worker(storage: RedisStorage) -> None:
    while not await storage.workers():
        await asyncio.sleep(0.02)


async def wait_drained(storage: RedisStorage) -> None:
    while True:
        c = await storage.counts("default")
        if not (c[TaskStatus.PENDING] or c[TaskStatus.RUNNING] or c[TaskStatus.RETRYING]):
            return
        await asyncio.sleep(0.005)


async def bench(url: str, n: int) -> dict[str, float]:
    storage = RedisStorage.from_url(url, retention=Retention(completed_count=n * 2))
    producer = TaskQueue(worker_count=0, storage=storage)
    await producer.open_storage()
    out: dict[str, float] = {}
    await storage.client.flushall()
    await storage.set_paused("default", True)

    t0 = time.perf_counter()
    for _ in range(n):
        await producer.submit("bench_tasks:noop")
    out["single enqueue /s"] = n / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    await producer.submit_many("bench_tasks:noop", [() for _ in range(n)])
    out["batch enqueue /s"] = n / (time.perf_counter() - t0)

    worker = start_worker(url)
    try:
        await wait_for_worker(storage)
        total = (await storage.counts("default"))[TaskStatus.PENDING]
        t0 = time.perf_counter()
        await storage.set_paused("default", False)
        await wait_drained(storage)
        out["drain /s"] = total / (time.perf_counter() - t0)

        lat = []
        for _ in range(300):
            await asyncio.sleep(0.002)  # let the worker go idle (blocked waiting for work)
            t_submit = time.time()
            task_id = await producer.submit("bench_tasks:stamp")
            started = await producer.result(task_id, timeout=10)
            lat.append((started - t_submit) * 1000)
        lat.sort()
        out["latency p50 ms"] = statistics.median(lat)
        out["latency p99 ms"] = lat[int(len(lat) * 0.99) - 1]
    finally:
        worker.terminate()
        worker.wait(30)
        await producer.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with RedisServer() as server:
        print(f"redis-server on {server.url}; {args.tasks} tasks; {args.runs} runs (medians)")
        runs = [asyncio.run(bench(server.url, args.tasks)) for _ in range(args.runs)]
    for key in runs[0]:
        values = [r[key] for r in runs]
        med = statistics.median(values)
        shown = ", ".join(f"{v:,.2f}" if "ms" in key else f"{v:,.0f}" for v in values)
        print(f"{key:20} {med:>10,.{2 if 'ms' in key else 0}f}   (runs: {shown})")


if __name__ == "__main__":
    main()
