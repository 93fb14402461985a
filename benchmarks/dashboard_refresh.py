"""One dashboard refresh at scale (issue 14): fills a redis-server this script starts itself with N
pending tasks, then measures, through the same ``DataSource.read`` the TUI calls, the plain
refresh, a refresh with a storage filter that matches nothing (the worst case: it scans its whole
bounded window), the error groups read and a queue's wait-time read — median ms and round trips.

    python -m benchmarks.dashboard_refresh [N]      (N defaults to 100,000; 1,000,000 for issue 14)

Measured at 1,000,000 pending tasks (2 shared cores, redis-server 7.0, loopback), 2026-12-02,
with cursor paging (Storage.list_after): plain refresh 4.0 ms / 14 round trips; the page after
position 500,000 4.2 ms / 14 (a cursor costs the page, not the depth); age reversed (the other end)
4.2 ms / 14; with a storage filter matching nothing (scans its 2,000-entry window) 52 ms / 20;
error groups 0.3 ms / 3; wait p50/p99 0.23 ms / 2; the bulk dialog's count for "all pending"
0.21 ms / 1 (the counters); a detail's events from the 10,000-event stream 53 ms / 20. The one
cost that grows with the state is "pick all matching" with a filter: one pass over the state in
bounded windows, 33 s / 4,034 round trips for 1,000,000 entries (the dialog shows "counting in
storage" meanwhile). The fill took 21 s. Before (2026-12-01, offset paging): plain refresh
4.2 ms / 14, filtered 46 ms / 20.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.harness import RedisServer, table
from benchmarks.peers.gdw import TASKS
from benchmarks.scale import CHUNK, RoundTrips
from gdw_core import TaskQueue
from gdw_core import bulk as B
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from gdw_core.views import TaskFilter, matching_ids, task_events
from gdw_tui import bulkplan
from gdw_tui.bulkplan import Plan
from gdw_tui.selection import Scope
from gdw_tui.source import DataSource

REPEAT = 10


async def cost(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    await call()  # warm
    times, trips = [], []
    for _ in range(REPEAT):
        with RoundTrips() as rt:
            t0 = time.perf_counter()
            await call()
            times.append((time.perf_counter() - t0) * 1000)
        trips.append(rt.count)
    return statistics.median(times), statistics.median(trips)


async def run(server: RedisServer, n: int) -> str:
    storage = RedisStorage.from_url(server.url)
    queue = TaskQueue(worker_count=0, storage=storage)
    await queue.open_storage()
    source = DataSource(queue, read_timeout=60.0)
    rows: list[list[str]] = []
    try:
        t0 = time.perf_counter()
        for start in range(0, n, CHUNK):
            await queue.submit_many(f"{TASKS}:noop", [() for _ in range(min(CHUNK, n - start))])
        rows.append([f"fill {n:,} pending", f"{time.perf_counter() - t0:.1f} s"])
        pending = TaskStatus.PENDING
        measures: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("refresh, pending tab", lambda: source.read(pending)),
            ("refresh, pending tab, storage filter name:nomatch", None),  # type: ignore[list-item]
            ("error groups (15 min)", lambda: queue.inspect.error_groups()),
            ("wait p50/p99, queue default", lambda: queue.inspect.wait_stats("default")),
        ]
        # a cursor half-way down the state: the page after it (what `]` reads there)
        key = storage.keys.index("default", "pending")
        [(mid_id, mid_score)] = await storage.client.zrange(key, n // 2, n // 2, withscores=True)
        middle = (float(mid_score), str(mid_id))
        plan = Plan(B.Action.CANCEL, (), Scope(pending))
        measures += [
            (f"refresh, pending tab, the page after position {n // 2:,}", lambda: source.read(pending, cursor=middle)),
            ("refresh, pending tab, age reversed (the other end)", lambda: source.read(pending, reverse=True)),
            ("bulk dialog count, all pending (counters)", lambda: bulkplan.prepare(queue, plan)),
            ("detail timeline: the task's events in the stream", lambda: task_events(storage, str(mid_id))),
        ]
        for label, call in measures:
            if call is None:
                source.storage_filter = TaskFilter(name="nomatch")
                call = lambda: source.read(pending)  # noqa: E731
            ms, trips = await cost(call)
            source.storage_filter = None
            rows.append([f"{label} at {n:,} tasks", f"{ms:.2f} ms, {trips:.0f} round trips"])
        # "pick all matching" with a filter matching nothing: one whole pass over the state, once
        with RoundTrips() as rt:
            t0 = time.perf_counter()
            found = await matching_ids(storage, pending, TaskFilter(name="nomatch"))
            took = time.perf_counter() - t0
        rows.append(
            [
                f"bulk dialog count, filter matching none: one pass over {found.scanned:,} entries",
                f"{took:.1f} s, {rt.count} round trips",
            ]
        )
    finally:
        await queue.shutdown()
    return table(["measure", "value"], rows)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with RedisServer() as server:
        print(asyncio.run(run(server, n)))


if __name__ == "__main__":
    main()
