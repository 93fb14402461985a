"""What one submit costs, measured from both sides: a producer's loop of single submits (each
awaited before the next, what a web request pays), for gdw and huey in one run.

    python -m benchmarks.submit_cost [--n 10000] [--repeat 3]

Per submit: wall time, the producer's CPU (``time.process_time``), Redis's CPU (``INFO cpu``,
user + sys) and the time of the command itself inside Redis (``INFO commandstats``: gdw's
``fcall`` of the enqueue script, huey's ``lpush``). Wall time is roughly the producer's CPU plus
Redis's plus the wake-ups between them, so the table shows which side a difference comes from.

Starts its own redis-server on a free loopback port, flushed before each run; 500 warm-up submits
are not counted. huey runs in its own environment (``benchmarks/peers-env.sh``), through this
module's ``--child huey``; runs alternate, so a noisy moment hits both."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from benchmarks.harness import ROOT, RedisServer, peer_python
from benchmarks.peers.base import redis_cpu

WARM = 500
MARK = "SUBMIT_COST "
#: per system: the command whose own time is the submit's in Redis
COMMAND = {"gdw": "cmdstat_fcall", "huey": "cmdstat_lpush"}


class Clocks:
    """Both sides' clocks around a loop of submits: ``with Clocks(client, system) as c: ...``,
    then ``c.per(n)``."""

    def __init__(self, client: redis.Redis, system: str) -> None:
        self.client, self.system = client, system
        self.before: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.spent: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __enter__(self) -> Clocks:
        self.client.config_resetstat()
        self.before = (time.perf_counter(), time.process_time(), redis_cpu(self.client))
        return self

    def __exit__(self, *exc: object) -> None:
        after = (time.perf_counter(), time.process_time(), redis_cpu(self.client))
        self.spent = (after[0] - self.before[0], after[1] - self.before[1], after[2] - self.before[2])

    def per(self, n: int) -> dict[str, float]:
        usec = self.client.info("commandstats").get(COMMAND[self.system], {}).get("usec", 0)
        wall, client, server = self.spent
        return {"wall": wall / n * 1e6, "client": client / n * 1e6, "redis": server / n * 1e6, "command": usec / n}


def gdw(url: str, n: int) -> dict[str, float]:
    from gdw_core import TaskQueue
    from gdw_core.storage.redis import RedisStorage

    client = redis.Redis.from_url(url)
    client.flushall()

    async def run() -> dict[str, float]:
        queue = TaskQueue(worker_count=0, storage=RedisStorage.from_url(url))
        await queue.open_storage()
        try:
            name = "benchmarks.peers.gdw_tasks:noop"  # by name, as the peer benchmark submits
            for _ in range(WARM):
                await queue.submit(name)
            with Clocks(client, "gdw") as clocks:
                for _ in range(n):
                    await queue.submit(name)
            return clocks.per(n)
        finally:
            await queue.shutdown()

    try:
        return asyncio.run(run())
    finally:
        client.close()


def huey_child(url: str, n: int) -> dict[str, float]:
    """Runs in huey's environment (``--child huey``)."""
    from huey import RedisHuey

    client = redis.Redis.from_url(url)
    client.flushall()
    huey = RedisHuey("bench", url=url, results=False)  # the peer benchmark's settings

    @huey.task()
    def noop() -> None:
        pass

    for _ in range(WARM):
        noop()

    try:
        with Clocks(client, "huey") as clocks:
            for _ in range(n):
                noop()
        return clocks.per(n)
    finally:
        client.close()


def huey(url: str, n: int) -> dict[str, float]:
    proc = subprocess.run(
        [peer_python("huey"), "-m", "benchmarks.submit_cost", "--child", "huey", "--url", url, "--n", str(n)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    raise SystemExit(f"huey's run failed (benchmarks/peers-env.sh installs it): {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["huey"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(MARK + json.dumps(huey_child(args.url, args.n)))
        return
    runs: dict[str, list[dict[str, float]]] = {"gdw": [], "huey": []}
    with RedisServer() as server:
        for _ in range(args.repeat):
            runs["gdw"].append(gdw(server.url, args.n))
            runs["huey"].append(huey(server.url, args.n))
    print(f"{args.n:,} single submits per run, {args.repeat} runs (medians, min-max in brackets), µs per submit\n")
    print("| per submit | gdw | huey |\n|---|---|---|")
    labels = {
        "wall": "wall time",
        "client": "producer CPU",
        "redis": "Redis CPU",
        "command": "of which the command (gdw: FCALL enqueue; huey: LPUSH)",
    }
    for key, label in labels.items():
        cells = []
        for system in ("gdw", "huey"):
            values = [r[key] for r in runs[system]]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})")
        print(f"| {label} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
