"""Embedded throughput: N no-op tasks through TaskQueue (memory storage), against the tightest
plain-asyncio reference, in the same run. Prints each rate and its ratio to the reference.

    python -m benchmarks.embedded [--n 100000] [--workers 10] [--repeat 3] [--only per-call]

* reference, tight loop: acquire a semaphore of ``--workers``, then ``create_task`` one no-op that
  releases it — what an asyncio program does without a queue (no record, no status, no events);
* reference, all up front: every task created at once, each waiting on the semaphore (slower than
  the tight loop; printed for comparison with earlier figures, never used as the reference);
* gdw per call: ``await queue.submit(noop)`` one call at a time, until all N are done;
* gdw submit_many: one call for all N;
* gdw per call, default retention: the same per-call loop with the default ``Retention`` (10,000
  finished records kept): past the first 10,000, every completion also deletes the oldest record,
  as in a long-running program. The two rows above keep all N records (so their completed count
  tells when all are done) and never pay that deletion; this one counts its tasks as they run;
* gdw per call, every default: ``TaskQueue(worker_count=10)`` as it comes (at most 100 waiting: a
  full queue gives the queue's own workers their turn, so the submits and the tasks interleave;
  the default retention), counted the same way.
Every gdw task keeps its full record (status, attempts, events, retention).

``--only`` runs one of them (``tight``, ``up-front``, ``per-call``, ``submit-many``, ``retained``,
``defaults``), e.g. under
``valgrind --tool=callgrind`` to count instructions per task, which do not depend on the machine's
load: run it at two sizes and divide the difference by the difference in ``--n``
(docs/performance.md, "Embedded per-call path").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable

from gdw_core import MemoryStorage, Retention, TaskQueue
from gdw_core.status import TaskStatus


async def noop() -> None:
    return None


async def tight_loop(n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()

    async def run() -> None:
        try:
            await noop()
        finally:
            sem.release()

    start = time.perf_counter()
    for _ in range(n):
        await sem.acquire()
        t = asyncio.create_task(run())
        pending.add(t)
        t.add_done_callback(pending.discard)
    while pending:
        await asyncio.gather(*list(pending))
    return n / (time.perf_counter() - start)


async def all_up_front(n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def run() -> None:
        async with sem:
            await noop()

    start = time.perf_counter()
    await asyncio.gather(*[asyncio.create_task(run()) for _ in range(n)])
    return n / (time.perf_counter() - start)


async def _gdw(n: int, workers: int, per_call: bool) -> float:
    # keep every finished record so the completed count can tell when all n are done
    storage = MemoryStorage(retention=Retention(completed_count=n))
    queue = TaskQueue(worker_count=workers, queue_size=None, buffer_size=100, storage=storage)
    queue.register(noop)
    async with queue:
        start = time.perf_counter()
        if per_call:
            for _ in range(n):
                await queue.submit(noop)
        else:
            await queue.submit_many(noop, [() for _ in range(n)])
        while (await queue.inspect.counts())[TaskStatus.COMPLETED] < n:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def per_call(n: int, workers: int) -> float:
    return await _gdw(n, workers, per_call=True)


#: tasks finished by ``counted`` (per_call_retained: the default retention drops finished records)
_done = 0


async def counted() -> None:
    global _done
    _done += 1


async def per_call_retained(n: int, workers: int) -> float:
    return await _counted(TaskQueue(worker_count=workers, queue_size=None, buffer_size=100, storage=MemoryStorage()), n)


async def per_call_defaults(n: int, workers: int) -> float:
    return await _counted(TaskQueue(worker_count=workers), n)


async def _counted(queue: TaskQueue, n: int) -> float:
    global _done
    _done = 0
    queue.register(counted)
    async with queue:
        start = time.perf_counter()
        for _ in range(n):
            await queue.submit(counted)
        while _done < n:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def batch(n: int, workers: int) -> float:
    return await _gdw(n, workers, per_call=False)


RUNS: dict[str, Callable[[int, int], Awaitable[float]]] = {
    "reference: tight asyncio loop": tight_loop,
    "asyncio, all tasks up front": all_up_front,
    "gdw: await submit() per call": per_call,
    "gdw: submit_many()": batch,
    "gdw: per call, default retention": per_call_retained,
    "gdw: per call, every default": per_call_defaults,
}


#: --only's names for the runs
SHORT = dict(zip(RUNS, ("tight", "up-front", "per-call", "submit-many", "retained", "defaults"), strict=True))


def _short(name: str) -> str:
    return SHORT[name]


async def main_async(n: int, workers: int, repeat: int, only: str | None = None) -> dict[str, float]:
    runs = {name: run for name, run in RUNS.items() if only is None or _short(name) == only}
    if not runs:
        raise SystemExit(f"--only takes one of {', '.join(_short(name) for name in RUNS)}")
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):  # interleaved, so a noisy moment hits every run alike
        for name, run in runs.items():
            gc.collect()
            rates[name].append(await run(n, workers))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run only this one: " + ", ".join(_short(name) for name in RUNS))
    args = parser.parse_args()
    rates = asyncio.run(main_async(args.n, args.workers, args.repeat, args.only))
    reference = rates.get("reference: tight asyncio loop")
    print(f"tasks={args.n} concurrency={args.workers} repeat={args.repeat} (medians)")
    for name, rate in rates.items():
        ratio = f"   {rate / reference:.2f}x the tight loop" if reference else ""
        print(f"{name:<34}: {rate:>10,.0f} tasks/s{ratio}")


if __name__ == "__main__":
    main()
