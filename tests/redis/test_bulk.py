"""bulk.lua on a real redis-server: each step is one script bounded by its limit; a walk over an
index whose scores tie (tasks scheduled in one enqueue share their run-at) meets every task once,
whether the tasks it passes leave the index or stay; garbage of every shape fails alone."""

from __future__ import annotations

import uuid
from typing import Any

from gdw_core import TaskRecord, TaskStatus
from gdw_core import bulk as B
from gdw_core.storage.redis import RedisStorage

S = TaskStatus


def rec(**kw: Any) -> TaskRecord:
    kw.setdefault("id", uuid.uuid4().hex)
    kw.setdefault("name", "demo_tasks:fast")
    return TaskRecord(**kw)


async def walk(storage: RedisStorage, action: B.Action, flt: B.Filter, limit: int) -> list[B.Batch]:
    steps = []
    cursor: B.Cursor | None = B.Cursor()
    while cursor is not None:
        step = await storage.bulk(action, flt, "default", cursor, limit)
        steps.append(step)
        cursor = step.next
    return steps


async def scheduled_together(storage: RedisStorage, n: int, **kw: Any) -> list[str]:
    records = [rec(status=S.SCHEDULED, delay=3600.0, **kw) for _ in range(n)]
    await storage.enqueue(records)
    return [r.id for r in records]


async def test_tied_scores_are_each_met_once_when_they_stay(redis_storage: RedisStorage) -> None:
    ids = await scheduled_together(redis_storage, 20)
    prefix = redis_storage.keys.prefix("default")
    scores = {s for _, s in await redis_storage.client.zrange(prefix + "ds", 0, -1, withscores=True)}
    assert len(scores) == 1  # they really tie
    steps = await walk(redis_storage, B.Action.COUNT, B.Filter(S.SCHEDULED), 3)
    met = [i.task_id for st in steps for i in st.items]
    assert sorted(met) == sorted(ids) and max(len(st.items) for st in steps) <= 3


async def test_tied_scores_are_each_met_once_when_they_leave(redis_storage: RedisStorage) -> None:
    ids = await scheduled_together(redis_storage, 20)
    steps = await walk(redis_storage, B.Action.RETRY, B.Filter(S.SCHEDULED), 3)
    done = [i.task_id for st in steps for i in st.items if i.done]
    assert sorted(done) == sorted(ids)
    assert (await redis_storage.counts())[S.PENDING] == 20


async def test_tied_scores_with_some_filtered_out(redis_storage: RedisStorage) -> None:
    keep = await scheduled_together(redis_storage, 7, name="demo_tasks:slow")
    mixed = [rec(status=S.SCHEDULED, delay=3600.0, name=n) for n in ["demo_tasks:fast", "demo_tasks:slow"] * 6]
    await redis_storage.enqueue(mixed)
    flt = B.Filter(S.SCHEDULED, name="demo_tasks:fast")
    steps = await walk(redis_storage, B.Action.CANCEL, flt, 2)
    assert sum(1 for st in steps for i in st.items if i.done) == 6
    counts = await redis_storage.counts()
    assert (counts[S.CANCELLED], counts[S.SCHEDULED]) == (6, 7 + 6)
    assert keep


async def test_garbage_of_every_shape_fails_alone(redis_storage: RedisStorage) -> None:
    c = redis_storage.client
    prefix = redis_storage.keys.prefix("default")
    good = [rec() for _ in range(5)]
    await redis_storage.enqueue(good)
    for g in good:
        await redis_storage.cancel(g.id)
    now = await redis_storage.now()
    await c.set(prefix + "t:str", "x")  # a string where a hash should be
    await c.hset(prefix + "t:odd", mapping={"st": "sideways", "n": "x"})  # a status nobody knows
    await c.zadd(prefix + "x", {"str": now, "odd": now, "ghost": now})  # ghost: no record at all
    steps = await walk(redis_storage, B.Action.RETRY, B.Filter(S.CANCELLED), 3)
    items = {i.task_id: i for st in steps for i in st.items}
    assert all(items[g.id].done for g in good)
    assert items["str"].reason == "unreadable record: a string key"
    assert items["odd"].reason == "unreadable record: unknown status sideways"
    assert items["ghost"].reason == "missing"
    assert await c.zscore(prefix + "x", "ghost") is None  # an id pointing nowhere leaves the index
    assert (await redis_storage.counts())[S.PENDING] == 5


async def test_rerun_of_a_garbage_key_says_so(redis_storage: RedisStorage) -> None:
    await redis_storage.enqueue([rec(id="real")])
    prefix = redis_storage.keys.prefix("default")
    await redis_storage.client.delete(prefix + "t:real")
    await redis_storage.client.set(prefix + "t:real", "x")
    item = await redis_storage.rerun("real")
    assert (item.done, item.reason) == (False, "unreadable record: a string key")
