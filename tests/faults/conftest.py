"""Fixtures of the fault-injection suite: each scenario gets its own redis-server (a real one on a
free loopback port), an execution-log directory, an event tail, a producer and a worker spawner."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.faults.checker import EventTail
from tests.faults.harness import FaultRedis, Workers, wait_for

S = TaskStatus


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.faults)


@dataclass
class Scene:
    redis: FaultRedis
    storage: RedisStorage
    producer: TaskQueue
    workers: Workers
    tail: EventTail
    log_dir: Path

    async def workers_registered(self, n: int, timeout: float = 30) -> None:
        async def ready() -> bool:
            pids = {w.pid for w in await self.storage.workers()}
            return sum(1 for w in self.workers.live() if w.pid in pids) >= n

        await wait_for(ready, timeout, f"{n} worker(s) to register")

    async def counts(self) -> dict[TaskStatus, int]:
        return await self.storage.counts()

    async def all_terminal(self, timeout: float, ids_count: int | None = None) -> None:
        last: dict[TaskStatus, int] = {}

        async def done() -> bool:
            last.update(await self.storage.counts())
            return not any(last[s] for s in TaskStatus if not s.terminal)

        try:
            await wait_for(done, timeout, "every task to finish", every=0.1)
        except AssertionError as exc:
            left = {str(s): n for s, n in last.items() if n and not s.terminal}
            raise AssertionError(f"{exc}; still waiting: {left}") from None


async def make_scene(tmp_path: Path, redis: FaultRedis) -> Scene:
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    storage = RedisStorage.from_url(redis.url)
    await storage.open()
    producer = TaskQueue(worker_count=0, storage=storage)
    tail = await EventTail(redis.url).start()
    return Scene(redis, storage, producer, Workers(redis.url, log_dir), tail, log_dir)


async def close_scene(scene: Scene) -> None:
    if scene.tail._task is not None:
        scene.tail._task.cancel()
    with contextlib.suppress(Exception):
        await scene.tail.storage.close()
    with contextlib.suppress(Exception):
        await scene.storage.close()
    scene.workers.cleanup()
    scene.redis.stop()


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    redis = FaultRedis().start()
    s = await make_scene(tmp_path, redis)
    yield s
    await close_scene(s)


@pytest.fixture
async def aof_scene(tmp_path: Path) -> AsyncIterator[Scene]:
    redis = FaultRedis(aof=True).start()
    s = await make_scene(tmp_path, redis)
    yield s
    await close_scene(s)
