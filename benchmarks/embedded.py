"""Embedded throughput: N no-op tasks through TaskQueue (memory storage) vs a bare asyncio loop
(create_task + semaphore) in the same run. Prints both rates and their ratio.

    python -m benchmarks.embedded [--n 100000] [--workers 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from gdw_core import MemoryStorage, Retention, TaskQueue


async def noop() -> None:
    return None


async def bare_loop(n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    done = asyncio.Event()
    remaining = n

    async def run() -> None:
        nonlocal remaining
        async with sem:
            await noop()
        remaining -= 1
        if remaining == 0:
            done.set()

    start = time.perf_counter()
    tasks = [asyncio.create_task(run()) for _ in range(n)]
    await done.wait()
    elapsed = time.perf_counter() - start
    del tasks
    return n / elapsed


async def embedded(n: int, workers: int) -> float:
    # keep every finished record so the completed count can tell when all n are done
    storage = MemoryStorage(retention=Retention(completed_count=n))
    queue = TaskQueue(worker_count=workers, queue_size=None, buffer_size=100, storage=storage)
    queue.register(noop)
    async with queue:
        start = time.perf_counter()
        await queue.submit_many(noop, [() for _ in range(n)])
        while (await queue.inspect.counts())["completed"] < n:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def main_async(n: int, workers: int, repeat: int) -> tuple[float, float]:
    bare_rates, gdw_rates = [], []
    for _ in range(repeat):
        gc.collect()
        bare_rates.append(await bare_loop(n, workers))
        gc.collect()
        gdw_rates.append(await embedded(n, workers))
    return statistics.median(bare_rates), statistics.median(gdw_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bare, gdw = asyncio.run(main_async(args.n, args.workers, args.repeat))
    print(f"tasks={args.n} worker_count={args.workers} repeat={args.repeat} (medians)")
    print(f"bare asyncio loop : {bare:>10,.0f} tasks/s")
    print(f"gdw embedded      : {gdw:>10,.0f} tasks/s")
    print(f"ratio gdw/bare    : {gdw / bare:.2f}")


if __name__ == "__main__":
    main()
