"""``unique_for`` and ``debounce`` through the API, with three producers submitting at once to
one real redis-server (each its own connection), and on memory storage."""

from __future__ import annotations

import asyncio

import pytest

from gdw_core import TaskQueue, TaskStatus
from gdw_core.errors import InvalidSchedule, InvalidTask
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def producers(url: str, n: int = 3) -> list[TaskQueue]:
    return [TaskQueue(worker_count=0, storage=RedisStorage.from_url(url)) for _ in range(n)]


async def test_unique_for_holds_with_three_producers(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    qs = await producers(redis_server.url)
    try:
        ids = await asyncio.gather(
            *(q.options(unique_for=60).submit("demo_tasks:fast", 7) for q in qs for _ in range(10))
        )
        assert len(set(ids)) == 1
        other = await qs[0].options(unique_for=60).submit("demo_tasks:fast", 8)  # other arguments
        keyed = await asyncio.gather(
            *(q.options(unique_for=60, unique_key="welcome:42").submit("demo_tasks:fast", i) for i, q in enumerate(qs))
        )
        assert len(set(keyed)) == 1 and other not in ids + keyed
        counts = await qs[0].storage.counts()
        assert counts[TaskStatus.PENDING] == 3
    finally:
        for q in qs:
            await q.storage.close()


async def test_debounce_holds_with_three_producers(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    qs = await producers(redis_server.url)
    try:
        ids = []
        for i in range(6):  # a burst, 0.1 s apart, from all three
            ids.append(await qs[i % 3].options(debounce=1.0, unique_key="digest:u1").submit("demo_tasks:fast", i))
            await asyncio.sleep(0.1)
        assert len(set(ids)) == 1
        rec = await qs[0].status(ids[0])
        assert rec.status is TaskStatus.SCHEDULED and rec.args == [5]
        assert (await qs[0].storage.counts())[TaskStatus.SCHEDULED] == 1
    finally:
        for q in qs:
            await q.storage.close()


async def test_bad_uniqueness_options_are_refused_at_the_call() -> None:
    q = TaskQueue(worker_count=0)
    for kwargs in ({"unique_for": 0}, {"unique_for": -1}, {"debounce": "5"}, {"unique_key": "k"},
                   {"unique_for": 5, "debounce": 5}, {"unique_for": 5, "unique_key": ""}):  # fmt: skip
        with pytest.raises((InvalidTask, InvalidSchedule)):
            q.options(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidSchedule, match="debounce"):
        await q.options(debounce=5).schedule("demo_tasks:fast", 10)
    assert sum((await q.storage.counts()).values()) == 0
