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
