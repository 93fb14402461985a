"""Adversarial: limit definitions and limit fields written into Redis by hand fail only the tasks
that use them, each with its reason; every other task of the batch is claimed."""

from __future__ import annotations

import uuid

import pytest

from gdw_core import TaskRecord, TaskStatus
from gdw_core.flow import LimitSpec
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.adversarial]


def rec(limits: list[str]) -> TaskRecord:
    return TaskRecord(id=uuid.uuid4().hex, name="demo_tasks:fast", limits=limits)


async def test_a_garbage_definition_fails_only_its_tasks(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    await redis_storage.set_limit(LimitSpec("good", concurrency=5))
    lp = redis_storage.limit_prefix("default")
    redis_server.cli("hset", lp + "def:bad", "n", "lots", "per", "1")  # a rate nobody can read
    redis_server.cli("set", lp + "def:string", "not a hash")  # the wrong type of key
    bad, string, good, free = rec(["bad"]), rec(["string"]), rec(["good"]), rec([])
    await redis_storage.enqueue([bad, string, good, free])
    leases = await redis_storage.claim("w", ["default"], 10, 30.0, 0.1)
    assert sorted(x.task.id for x in leases) == sorted([good.id, free.id])
    for task, says in ((bad, "limit bad is malformed in storage"), (string, "limit string is malformed in storage")):
        got = await redis_storage.get(task.id)
        assert got is not None and got.status is TaskStatus.FAILED
        assert got.errors[-1].type == "InvalidPayload" and says in got.errors[-1].message
    # the listing skips what it cannot read, and shows the rest
    assert [u.spec.name for u in await redis_storage.limits()] == ["good"]


async def test_a_garbage_limits_field_fails_only_that_task(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    ok = rec([])
    await redis_storage.enqueue([ok])
    key = redis_storage.keys.task("default", "hand-made")
    payload = '{"name":"demo_tasks:fast","args":[],"kwargs":{},"queue":"default","limits":"stripe"}'
    redis_server.cli("hset", key, "d", payload, "n", "demo_tasks:fast", "st", "pending", "cr", "1", "run", "1")
    redis_server.cli("zadd", redis_storage.keys.index("default", "pending"), "-1", "hand-made")
    leases = await redis_storage.claim("w", ["default"], 10, 30.0, 0.1)
    assert [x.task.id for x in leases] == [ok.id]
    got = await redis_storage.get("hand-made")  # read back as failed, saying what is wrong with it
    assert got is not None and got.status is TaskStatus.FAILED and "limits" in got.errors[-1].message
    assert redis_server.cli("hget", key, "st") == "failed"  # the claim failed it, with its reason
    assert "the limits field is not a list of limit names" in redis_server.cli("hget", key, "errs")


async def test_a_limit_s_holders_or_waiters_of_another_type_are_set_aside_not_fatal(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """A concurrency limit's holder set and waiter set, and its waiter counter, overwritten by hand:
    claims of its tasks and of the others go on, completions give the slots back, the waiting
    task is woken; each garbage key is renamed aside (kept) instead of failing every claim and ack
    of every queue that uses the limit (after their writes were made)."""
    from gdw_core.storage.protocol import Ack

    await redis_storage.set_limit(LimitSpec("one", concurrency=1))
    lp = redis_storage.limit_prefix("default")
    redis_server.cli("set", lp + "h:one", "not a zset")
    redis_server.cli("hset", lp + "w:one", "not", "a zset")
    redis_server.cli("hset", lp + "wseq", "not", "a number")
    first, second, free = rec(["one"]), rec(["one"]), rec([])
    await redis_storage.enqueue([first, second, free])
    leases = {x.task.id: x for x in await redis_storage.claim("w", ["default"], 10, 30.0, 0.1)}
    assert sorted(leases) == sorted([first.id, free.id])  # the second waits for the one slot
    waiting = await redis_storage.get(second.id)
    assert waiting is not None and waiting.status is TaskStatus.THROTTLED
    assert await redis_storage.complete([Ack(first.id, leases[first.id].token, 1)]) == [True]
    got = [x.task.id for x in await redis_storage.claim("w", ["default"], 10, 30.0, 0.5)]
    assert got == [second.id]  # woken and admitted once the slot was given back
    kept = sorted(k.split(":quarantine:")[0] for k in redis_server.cli("keys", lp + "*:quarantine:*").split())
    assert kept == [lp + "h:one", lp + "w:one"], kept
    assert redis_server.cli("get", lp + "wseq").isdigit()  # a counter: counted again from 1


async def test_a_result_ttl_index_of_another_type_is_set_aside_not_fatal(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """The queue's result-TTL index overwritten by hand: completing a task with a result TTL
    works (the index is set aside and made again), and so does the purge that reads it."""
    from gdw_core.storage.protocol import Ack

    rx = redis_storage.keys.prefix("default") + "rx"
    redis_server.cli("set", rx, "not a zset")
    task = TaskRecord(id=uuid.uuid4().hex, name="demo_tasks:fast", result_ttl=60.0)
    await redis_storage.enqueue([task])
    [lease] = await redis_storage.claim("w", ["default"], 1, 30.0, 0.1)
    assert await redis_storage.complete([Ack(task.id, lease.token, 1)]) == [True]
    assert redis_server.cli("type", rx) == "zset" and redis_server.cli("zscore", rx, task.id) != ""
    assert len(redis_server.cli("keys", rx + ":quarantine:*").split()) == 1
    redis_server.cli("set", rx, "garbage again")
    assert await redis_storage.purge_expired() >= 0  # reads it: set aside, nothing to purge yet
    assert redis_server.cli("type", rx) in ("zset", "none")
