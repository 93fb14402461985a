"""The cost of a limited task (issue 12): Redis CPU and round trips per claimed-and-completed task,
without a limit, with a rate limit and with a concurrency limit (both set high enough that nothing
is throttled: this measures the bookkeeping, not the waiting). A real redis-server on a free port.

Usage: /work/venv/bin/python benchmarks/flow_cost.py [--tasks 5000] [--batch 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdw_core import TaskRecord
from gdw_core.flow import LimitSpec, parse_rate
from gdw_core.storage.protocol import Ack
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer

VARIANTS: dict[str, LimitSpec | None] = {
    "no limit": None,
    "rate 1000000/s": LimitSpec("fast", parse_rate("1000000/s"), burst=1000),
    "concurrency 100000": LimitSpec("wide", concurrency=100_000),
}


def script_stats(server: RedisServer) -> tuple[int, int]:
    """(calls, microseconds) of the script calls (FCALL and EVALSHA) since the last CONFIG RESETSTAT."""
    calls = usec = 0
    for line in server.cli("info", "commandstats").splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_fcall:")):
            fields = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
            calls, usec = calls + int(fields["calls"]), usec + int(fields["usec"])
    return calls, usec


async def run(server: RedisServer, spec: LimitSpec | None, n: int, batch: int) -> tuple[float, float]:
    server.cli("flushall")
    storage = RedisStorage.from_url(server.url)
    await storage.open()
    try:
        if spec is not None:
            await storage.set_limit(spec)
        names = [spec.name] if spec is not None else []
        records = [TaskRecord(id=uuid.uuid4().hex, name="bench:noop", limits=names) for _ in range(n)]
        await storage.enqueue(records)
        server.cli("config", "resetstat")
        done = 0
        while done < n:
            leases = await storage.claim("bench", ["default"], batch, 60.0, 0.0)
            await storage.complete([Ack(x.task.id, x.token, None) for x in leases])
            done += len(leases)
        calls, usec = script_stats(server)
        return usec / n, calls / n
    finally:
        await storage.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    with RedisServer() as server:
        print(f"{args.tasks} tasks, claim batch {args.batch}, claim + complete per task")
        print(f"{'variant':<22}{'script µs/task':>16}{'scripts/task':>14}")
        for label, spec in VARIANTS.items():
            usec, calls = await run(server, spec, args.tasks, args.batch)
            print(f"{label:<22}{usec:>16.1f}{calls:>14.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
