"""Connection loss: Redis drops every client connection while tasks run. In-flight tasks keep
running, the worker reconnects (and says so), and their outcomes are recorded."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gdw_core import TaskQueue, task
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer


@task
async def nap(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


async def test_tasks_survive_dropped_connections(redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    redis_server.cli("flushall")
    caplog.set_level(logging.WARNING)
    storage = RedisStorage.from_url(redis_server.url)
    async with TaskQueue(worker_count=4, storage=storage, tasks=[nap], lease=5.0) as queue:
        ids = await queue.submit_many(nap, [(0.5,) for _ in range(4)])

        async def all_running() -> bool:
            counts = await storage.counts()
            return counts[TaskStatus.CLAIMED] + counts[TaskStatus.RUNNING] == 4  # leased, started or not

        while not await all_running():
            await asyncio.sleep(0.02)
        redis_server.cli("client", "kill", "type", "normal")  # every connection, the worker's too
        results = [await queue.result(t, timeout=30) for t in ids]
        assert results == ["slept"] * 4
        late = await queue.submit(nap, 0)
        assert await queue.result(late, timeout=30) == "slept"
        records = [await queue.status(t) for t in ids]
        assert all(r.attempts == 1 for r in records)  # nothing was run twice
    assert any("connection" in r.getMessage().lower() for r in caplog.records)
