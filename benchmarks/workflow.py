"""Workflow cost on a local redis-server: a fan-out / fan-in of N branches (a root, N members
that each receive the root's result, one callback that receives the N results), against the
same N tasks submitted plainly, so the price of the workflow machinery shows on its own.

Per node: Redis commands (``INFO commandstats`` deltas: script calls and every command the
scripts run), Redis CPU (``used_cpu_user + used_cpu_sys`` deltas) and wall time, with an
in-process worker of ``--concurrency`` slots.

    python -m benchmarks.workflow --n 1000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis

from benchmarks.harness import RedisServer, table
from gdw_core import TaskQueue, chain, group, sig, task
from gdw_core.storage.redis import RedisStorage


@task
async def source(n: int) -> int:
    return n


@task
async def branch(value: int, i: int) -> int:
    return value + i


@task
async def gather(values: list[int]) -> int:
    return sum(values)


@dataclass
class Cost:
    label: str
    nodes: int
    seconds: float
    commands: int
    cpu: float
    by_command: dict[str, int]

    def row(self) -> list[str]:
        top = ", ".join(
            f"{k} {v / self.nodes:.1f}" for k, v in sorted(self.by_command.items(), key=lambda kv: -kv[1])[:6]
        )
        return [
            self.label,
            str(self.nodes),
            f"{self.seconds:.2f}",
            f"{self.commands / self.nodes:.1f}",
            f"{self.cpu / self.nodes * 1e6:.0f}",
            top,
        ]


def _stats(client: redis.Redis) -> tuple[dict[str, int], float]:
    cmd = client.info("commandstats")
    cpu = client.info("cpu")
    calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in cmd.items() if k != "cmdstat_info"}
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def measure(label: str, nodes: int, client: redis.Redis, run: Callable[[], Awaitable[Any]]) -> Cost:
    before, cpu0 = _stats(client)
    t0 = time.perf_counter()
    await run()
    seconds = time.perf_counter() - t0
    after, cpu1 = _stats(client)
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    return Cost(label, nodes, seconds, sum(delta.values()), cpu1 - cpu0, delta)


async def main(n: int, concurrency: int) -> None:
    server = RedisServer().start()
    try:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        storage = RedisStorage.from_url(server.url)
        async with TaskQueue(worker_count=concurrency, storage=storage, tasks=[source, branch, gather]) as q:
            await q.submit(source, 0)  # warm: scripts loaded, queue registered
            await asyncio.sleep(0.2)

            async def plain() -> None:
                ids = await q.submit_many(branch, [(1, i) for i in range(n + 2)])
                for task_id in ids:
                    await q.wait(task_id, timeout=300)

            async def fan() -> None:
                flow = chain(sig(source, 1), group(*(sig(branch, i) for i in range(n))), sig(gather))
                handle = await q.submit_workflow(flow)
                assert await handle.result(timeout=300) == n * 1 + n * (n - 1) // 2

            costs = [
                await measure(f"{n + 2} plain tasks", n + 2, client, plain),
                await measure(f"fan-out/fan-in of {n}", n + 2, client, fan),
            ]
        print(
            table(
                ["run", "nodes", "seconds", "Redis commands / node", "Redis CPU µs / node", "top commands / node"],
                [c.row() for c in costs],
            )
        )
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="branches (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="worker slots (default 50)")
    args = parser.parse_args()
    from benchmarks.workflow import main as imported  # tasks named benchmarks.workflow:..., not __main__

    asyncio.run(imported(args.n, args.concurrency))
