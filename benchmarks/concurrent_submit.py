"""Single submits from many coroutines at once (a web server's requests, each submitting one
task): the rate, Redis CPU per submit and script calls per submit, for 1, 10 and 100 producers.

    python -m benchmarks.concurrent_submit [--n 20000] [--producers 1,10,100] [--repeat 3]

Starts its own redis-server on a free loopback port (flushed before every run). Each producer
awaits ``queue.submit(noop)`` one after another; with one producer this is the harness's "enqueue
one at a time". Concurrent single submits are gathered into shared enqueue calls
(gdw_core/storage/redis/gathering.py); calls per submit shows how many were."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from gdw_core import TaskQueue
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer


def _stats(client: redis.Redis) -> tuple[float, int]:
    cpu = client.info("cpu")
    fcall = client.info("commandstats").get("cmdstat_fcall", {}).get("calls", 0)
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]), int(fcall)


async def run(url: str, n: int, producers: int) -> tuple[float, float, float]:
    """(submits/s, Redis CPU µs per submit, script calls per submit)"""
    client = redis.Redis.from_url(url)
    client.flushall()
    queue = TaskQueue(storage=RedisStorage.from_url(url), worker_count=0)
    await queue.open_storage()
    try:
        await queue.submit("bench:noop")  # the library loaded, the queue registered
        each = n // producers

        async def producer() -> None:
            for _ in range(each):
                await queue.submit("bench:noop")

        cpu0, calls0 = _stats(client)
        start = time.perf_counter()
        await asyncio.gather(*(producer() for _ in range(producers)))
        elapsed = time.perf_counter() - start
        cpu1, calls1 = _stats(client)
        done = each * producers
        return done / elapsed, (cpu1 - cpu0) / done * 1e6, (calls1 - calls0) / done
    finally:
        await queue.storage.close()
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--producers", default="1,10,100")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    counts = [int(p) for p in args.producers.split(",")]
    with RedisServer() as server:
        rows: dict[int, list[tuple[float, float, float]]] = {p: [] for p in counts}
        for _ in range(args.repeat):  # interleaved, so a noisy moment hits every row alike
            for p in counts:
                rows[p].append(asyncio.run(run(server.url, args.n, p)))
    print(f"tasks={args.n} repeat={args.repeat} (medians)\n")
    print("| producers | submits/s | Redis CPU per submit (µs) | script calls per submit |\n|---|---|---|---|")
    for p, runs in rows.items():
        rate, cpu, calls = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {p} | {rate:,.0f} | {cpu:.1f} | {calls:.3f} |")


if __name__ == "__main__":
    main()
