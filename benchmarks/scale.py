"""Scenario 5, gdw at scale: Redis memory per pending task and per retained completed task, memory
after every task completed under the default retention (flat: it must not grow with history), and
the dashboard's refresh cost at that size, read through the same ``DataSource.read`` the TUI calls
(round trips counted on the client socket; Redis commands from ``INFO commandstats`` deltas)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio.connection as aconn

from benchmarks import probe
from benchmarks.harness import RedisServer, table
from benchmarks.peers.base import Workers
from benchmarks.peers.gdw import TASKS, Gdw
from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from gdw_tui.source import DataSource

CHUNK = 20_000
REFRESHES = 20


class RoundTrips:
    """Counts writes of packed commands by redis-py's asyncio connections: one per command, one
    per pipeline (a round trip each). Installed only in this benchmark process."""

    def __init__(self) -> None:
        self.count = 0
        self._orig: Callable[..., Any] = aconn.AbstractConnection.send_packed_command

    def __enter__(self) -> RoundTrips:
        orig = self._orig

        async def counting(conn: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            await orig(conn, command, check_health)

        aconn.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        aconn.AbstractConnection.send_packed_command = self._orig  # type: ignore[method-assign]


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def redis_commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info",))


async def refresh_cost(source: DataSource, client: redis.Redis, status: TaskStatus) -> tuple[float, float, float]:
    """(median ms, round trips, Redis commands) per refresh."""
    await source.read(status)  # warm (script cache, queue list)
    times, trips, cmds = [], [], []
    for _ in range(REFRESHES):
        before_cmds = redis_commands(client)
        with RoundTrips() as rt:
            t0 = time.perf_counter()
            await source.read(status)
            times.append((time.perf_counter() - t0) * 1000)
        cmds.append(redis_commands(client) - before_cmds)
        trips.append(rt.count)
    return statistics.median(times), statistics.median(trips), statistics.median(cmds)


async def wait_done(client: redis.Redis, workers: Workers, n: int, samples: dict[int, int]) -> None:
    marks = sorted(samples)
    while True:
        total, _, _ = probe.read_done(client)
        while marks and total >= marks[0]:
            samples[marks.pop(0)] = used_memory(client)
        if total >= n:
            return
        workers.check()
        await asyncio.sleep(0.2)


async def settle(storage: RedisStorage, expect_running: int = 0) -> None:
    """Until the worker's last acks landed (nothing pending or running)."""
    for _ in range(500):
        c = await storage.counts("default")
        if not c[TaskStatus.PENDING] and c[TaskStatus.RUNNING] <= expect_running:
            return
        await asyncio.sleep(0.02)


async def run_scale(server: RedisServer, n: int) -> str:
    os.environ["BENCH_REDIS_URL"] = server.url
    client = redis.Redis.from_url(server.url)
    client.flushall()
    storage = RedisStorage.from_url(server.url)
    queue = TaskQueue(worker_count=0, storage=storage)
    await queue.open_storage()
    source = DataSource(queue)
    rows: list[list[str]] = []
    try:
        empty = used_memory(client)
        t0 = time.perf_counter()
        for start in range(0, n, CHUNK):
            await queue.submit_many(f"{TASKS}:noop", [() for _ in range(min(CHUNK, n - start))])
        enqueue_s = time.perf_counter() - t0
        pending_mem = used_memory(client)
        rate = f"{enqueue_s:.1f} s ({n / enqueue_s:,.0f} tasks/s)"
        rows.append([f"enqueue {n:,} (submit_many, {CHUNK:,} a call)", rate])
        rows.append(["Redis memory, empty", f"{empty / 1e6:,.1f} MB"])
        rows.append([f"Redis memory, {n:,} pending", f"{pending_mem / 1e6:,.1f} MB"])
        rows.append(["per pending task", f"{(pending_mem - empty) / n:,.0f} bytes"])
        for status in (TaskStatus.PENDING, TaskStatus.RUNNING):
            ms, trips, cmds = await refresh_cost(source, client, status)
            rows.append([f"dashboard refresh at {n:,} pending, showing {status.value}",
                         f"{ms:.2f} ms, {trips:.0f} round trips, {cmds:.0f} Redis commands"])  # fmt: skip

        # drain them all with one worker process and the default retention
        marks = {n // 4: 0, n // 2: 0, 3 * n // 4: 0, n: 0}
        workers = Workers(Gdw(), server.url, 100, 1)
        try:
            t0 = time.perf_counter()
            await wait_done(client, workers, n, marks)
            drain_s = time.perf_counter() - t0
            await settle(storage)
            after = used_memory(client)
            counts = await storage.counts("default")
            retained = counts[TaskStatus.COMPLETED]
            rate = f"{drain_s:.1f} s ({n / drain_s:,.0f} tasks/s)"
            rows.append([f"drain {n:,} (1 worker process, concurrency 100)", rate])
            for mark, mem in marks.items():
                rows.append([f"Redis memory after {mark:,} completed", f"{mem / 1e6:,.1f} MB"])
            rows.append([f"Redis memory after all {n:,} completed (settled)", f"{after / 1e6:,.1f} MB"])
            rows.append(["completed tasks retained (default Retention)", f"{retained:,}"])
            rows.append(["per retained completed task (incl. its share of the capped event stream)",
                         f"{(after - empty) / max(retained, 1):,.0f} bytes"])  # fmt: skip
            more = max(n // 10, 1000)
            await queue.submit_many(f"{TASKS}:noop", [() for _ in range(more)])
            await wait_done(client, workers, n + more, {})
            await settle(storage)
            again = used_memory(client)
            grew = f"{again / 1e6:,.1f} MB ({(again - after) / 1e6:+.1f} MB)"
            rows.append([f"Redis memory after {more:,} more completed", grew])
            ms, trips, cmds = await refresh_cost(source, client, TaskStatus.COMPLETED)
            rows.append([f"dashboard refresh after {n + more:,} completed, showing completed",
                         f"{ms:.2f} ms, {trips:.0f} round trips, {cmds:.0f} Redis commands"])  # fmt: skip
        finally:
            workers.stop()
    finally:
        await queue.shutdown()
        client.close()
    return table(["measure", "value"], rows)
