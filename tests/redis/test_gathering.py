"""Concurrent single submits go to Redis together (gathering.py): fewer script calls, and every
submit still gets its own answer — created, already there, queue full, the task standing for it,
or the call's error. On the fast lane (FCALL) and through redis-py's pool (EVALSHA: TLS, Sentinel)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from gdw_core import TaskQueue, TaskRecord, TaskStatus
from gdw_core.errors import GdwError, QueueFull
from gdw_core.storage.protocol import Lease
from gdw_core.storage.redis import RedisStorage
from tests.redis.test_functions import calls
from tests.support.redis_server import RedisServer


@pytest.fixture(params=["fast-lane", "pool"])
async def storage(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[RedisStorage]:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url, fast_lane=request.param == "fast-lane")
    await s.open()
    yield s
    await s.close()


def script_calls(server: RedisServer) -> int:
    return calls(server, "fcall") + calls(server, "evalsha")


def rec(task_id: str | None = None) -> TaskRecord:
    return TaskRecord(id=task_id or uuid.uuid4().hex, name="m:f")


async def test_concurrent_submits_share_calls_and_keep_their_order(
    storage: RedisStorage, redis_server: RedisServer
) -> None:
    records = [rec() for _ in range(300)]
    await storage.enqueue([rec()])  # the library loaded, the queue registered
    before = script_calls(redis_server)
    results = await asyncio.gather(*(storage.enqueue([r]) for r in records))
    sent = script_calls(redis_server) - before
    assert results == [[True]] * 300
    assert sent <= 10, sent  # one alone, then the rest together (in calls of at most 100 tasks)
    leases = await storage.claim("w", ["default"], 400, 30.0, 0.0)
    assert [x.task.id for x in leases][1:] == [r.id for r in records]  # FIFO: in the order submitted


async def test_sequential_submits_are_each_sent_at_once(storage: RedisStorage, redis_server: RedisServer) -> None:
    await storage.enqueue([rec()])
    before = script_calls(redis_server)
    for _ in range(20):
        assert await storage.enqueue([rec()]) == [True]
    assert script_calls(redis_server) - before == 20  # nothing waited to be gathered


async def test_each_submit_of_a_group_gets_its_own_answer(storage: RedisStorage, redis_server: RedisServer) -> None:
    taken = rec("taken")
    assert await storage.enqueue([taken]) == [True]
    fresh = [rec() for _ in range(30)]
    mixed = [*fresh[:10], rec("taken"), *fresh[10:20], rec("twin"), rec("twin"), *fresh[20:]]
    before = script_calls(redis_server)
    results = await asyncio.gather(*(storage.enqueue([r]) for r in mixed))
    assert script_calls(redis_server) - before == 2  # the first alone, the other 32 as one group
    flags = [r[0] for r in results]
    assert flags[10] is False  # the id existed: nothing changed
    assert flags[21:23] == [True, False]  # the same id twice in one group: created once
    assert flags.count(True) == 31
    assert (await storage.counts())[TaskStatus.PENDING] == 32


async def test_a_full_queue_refuses_only_the_submits_beyond_its_bound(storage: RedisStorage) -> None:
    await storage.enqueue([rec()])
    outcomes = await asyncio.gather(*(storage.enqueue([rec()], max_waiting=25) for _ in range(60)),
                                    return_exceptions=True)  # fmt: skip
    refused = [o for o in outcomes if isinstance(o, QueueFull)]
    assert len(refused) == 36 and all(o == [True] for o in outcomes if not isinstance(o, QueueFull))
    assert (await storage.counts())[TaskStatus.PENDING] == 25


async def test_a_failed_call_fails_every_submit_of_its_group_and_nothing_else(
    storage: RedisStorage, redis_server: RedisServer
) -> None:
    await storage.enqueue([rec()])
    redis_server.cli("config", "set", "maxmemory", "1")  # every write refused: out of memory
    try:
        outcomes = await asyncio.gather(*(storage.enqueue([rec()]) for _ in range(40)), return_exceptions=True)
    finally:
        redis_server.cli("config", "set", "maxmemory", "0")
    assert all(isinstance(o, GdwError) and "out of memory" in str(o) for o in outcomes), outcomes
    assert (await storage.counts())[TaskStatus.PENDING] == 1
    assert await asyncio.gather(*(storage.enqueue([rec()]) for _ in range(40))) == [[True]] * 40


async def test_concurrent_unique_submits_all_name_the_one_task(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    queue = TaskQueue(storage=RedisStorage.from_url(redis_server.url), worker_count=0)
    await queue.open_storage()
    try:
        once = queue.options(unique_for=60)
        ids = await asyncio.gather(*(once.submit("m:f", 7) for _ in range(50)))
        others = await asyncio.gather(*(queue.submit("m:f", i) for i in range(50)))
        assert len(set(ids)) == 1 and len(set(others)) == 50
        assert (await queue.storage.counts())[TaskStatus.PENDING] == 51
    finally:
        await queue.storage.close()


@pytest.mark.parametrize("n", [1, 2, 150])
async def test_groups_of_any_size_create_every_task_once(storage: RedisStorage, n: int) -> None:
    await storage.enqueue([rec()])
    blocker = asyncio.gather(*(storage.enqueue([rec()]) for _ in range(3)))
    records = [rec() for _ in range(n)]
    results = await asyncio.gather(blocker, *(storage.enqueue([r]) for r in records))
    assert results[1:] == [[True]] * n
    for r in records:
        got = await storage.get(r.id)
        assert got is not None and got.status == TaskStatus.PENDING


async def test_a_cancelled_submit_leaves_the_rest_of_its_group(storage: RedisStorage) -> None:
    await storage.enqueue([rec()])
    records = [rec() for _ in range(40)]
    submits = [asyncio.ensure_future(storage.enqueue([r])) for r in records]
    await asyncio.sleep(0)  # every submit has joined (the first is on its way alone)
    submits[17].cancel()
    results = await asyncio.gather(*submits, return_exceptions=True)
    assert isinstance(results[17], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 17] == [[True]] * 39
    for i, r in enumerate(records):
        if i != 17:
            got = await storage.get(r.id)
            assert got is not None and got.status == TaskStatus.PENDING


async def test_connections_killed_under_concurrent_submits_lose_nothing_and_double_nothing(
    storage: RedisStorage, redis_server: RedisServer
) -> None:
    await storage.enqueue([rec()])
    records = [rec() for _ in range(200)]

    async def submit(r: TaskRecord) -> bool:
        for _ in range(50):  # as a producer does: try again until Redis answers
            try:
                return (await storage.enqueue([r]))[0]
            except GdwError:
                await asyncio.sleep(0.01)
        raise AssertionError("Redis never answered")

    async def producer(part: list[TaskRecord]) -> list[bool]:  # 20 producers, 10 submits each
        return [await submit(r) for r in part]

    killed = 0

    async def killer() -> None:
        nonlocal killed
        while not done.is_set():
            await asyncio.sleep(0.003)
            killed += int(redis_server.cli("client", "kill", "type", "normal", "skipme", "yes") or 0)

    done = asyncio.Event()
    stop = asyncio.ensure_future(killer())
    try:
        parts = await asyncio.gather(*(producer(records[i::20]) for i in range(20)))
    finally:
        done.set()
        await stop
    results = [flag for part in parts for flag in part]
    assert killed > 0  # connections died under the submits (the pool retries by itself; the lane's
    # callers saw StorageUnavailable and tried again)
    # a submit that was written before its connection died is "already exists" when tried again
    assert all(isinstance(flag, bool) for flag in results)
    pending: list[Lease] = []
    for _ in range(50):  # the last kill may have taken the connection this claim would use
        try:
            pending = await storage.claim("w", ["default"], 1000, 30.0, 0.0)
            break
        except GdwError:
            await asyncio.sleep(0.01)
    ids = [x.task.id for x in pending]
    assert len(ids) == len(set(ids)) == 201  # every task once
    assert set(ids) >= {r.id for r in records}
