"""Flow control, the same on every backend (memory, Redis, Redis Cluster): rates hold with GCRA,
concurrency slots are lease-bound, a task over its limit is throttled (never failed, never spun
on) and the rest of the queue keeps flowing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gdw_core import TaskRecord, TaskStatus
from gdw_core.flow import LimitSpec, parse_rate
from gdw_core.storage.protocol import Ack, Storage

S = TaskStatus
W = "worker-a"


def rec(limits: list[str] | None = None, **kw: object) -> TaskRecord:
    kw.setdefault("id", uuid.uuid4().hex)
    return TaskRecord(name="demo_tasks:fast", limits=list(limits or []), **kw)  # type: ignore[arg-type]


async def claim(storage: Storage, n: int, lease: float = 30.0, queues: tuple[str, ...] = ("default",)) -> list[str]:
    return [lease_.task.id for lease_ in await storage.claim(W, queues, n, lease, 0.05)]


async def test_a_rate_lets_its_burst_through_and_throttles_the_rest(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("api", parse_rate("1/m"), burst=2))
    tasks = [rec(["api"]) for _ in range(4)]
    await storage.enqueue(tasks)
    got = await claim(storage, 4)
    assert got == [tasks[0].id, tasks[1].id]
    counts = await storage.counts()
    assert counts[S.THROTTLED] == 2 and counts[S.PENDING] == 0
    now = await storage.now()
    waiting = await storage.list_tasks(S.THROTTLED)
    assert {r.id for r in waiting} == {tasks[2].id, tasks[3].id}
    # each throttled task is given its own turn: one interval (60 s) apart, not all at once
    turns = [r.run_at for r in waiting]
    assert turns == sorted(turns)  # listed soonest first
    assert turns[0] > now + 50 and turns[1] - turns[0] == pytest.approx(60.0, abs=1.0)
    assert all(r.throttled_by == "limit api: rate 1/m" for r in waiting)


async def test_a_throttled_task_does_not_block_the_tasks_behind_it(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("slow", concurrency=1))
    first, blocked, free = rec(["slow"]), rec(["slow"]), rec()
    await storage.enqueue([first, blocked, free])
    assert await claim(storage, 3) == [first.id, free.id]
    assert (await storage.get(blocked.id)).status is S.THROTTLED  # type: ignore[union-attr]


async def test_a_freed_slot_wakes_one_waiter_at_once(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("db", concurrency=2))
    tasks = [rec(["db"]) for _ in range(4)]
    await storage.enqueue(tasks)
    leases = await storage.claim(W, ("default",), 4, 30.0, 0.05)
    assert [x.task.id for x in leases] == [tasks[0].id, tasks[1].id]
    assert (await storage.counts())[S.THROTTLED] == 2
    assert await claim(storage, 4) == []  # both slots held: nothing more
    assert await storage.complete([Ack(leases[0].task.id, leases[0].token, None)]) == [True]
    # the slot is back and one waiter is due now, long before the holders' lease deadline
    assert await claim(storage, 4) == [tasks[2].id]
    assert (await storage.get(tasks[3].id)).status is S.THROTTLED  # type: ignore[union-attr]


async def test_a_slot_held_by_an_expired_lease_comes_back(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("one", concurrency=1))
    a, b = rec(["one"]), rec(["one"])
    await storage.enqueue([a, b])
    assert await claim(storage, 2, lease=0.3) == [a.id]  # b throttled until a's lease deadline
    await asyncio.sleep(0.5)  # a's worker is gone: its lease expires, nobody recovered it yet
    assert await claim(storage, 2) == [b.id]


async def test_per_key_limits_come_from_their_family(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("customer", concurrency=1))
    a1, a2, b1 = rec(["customer:a"]), rec(["customer:a"]), rec(["customer:b"])
    await storage.enqueue([a1, a2, b1])
    assert await claim(storage, 3) == [a1.id, b1.id]  # each key has its own slot
    assert (await storage.get(a2.id)).status is S.THROTTLED  # type: ignore[union-attr]


async def test_an_undefined_limit_is_unlimited_until_defined(storage: Storage) -> None:
    tasks = [rec(["later"]) for _ in range(3)]
    await storage.enqueue(tasks)
    assert len(await claim(storage, 3)) == 3


async def test_limits_list_shows_use_and_remove_frees_the_tasks(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("db", concurrency=1))
    await storage.set_limit(LimitSpec("api", parse_rate("10/s"), burst=3))
    a, b = rec(["db"]), rec(["db"])
    await storage.enqueue([a, b])
    await claim(storage, 2)
    uses = {u.spec.name: u for u in await storage.limits()}
    assert set(uses) == {"api", "db"}
    assert uses["db"].holding == 1 and uses["db"].waiting == 1 and uses["db"].spec.concurrency == 1
    assert uses["api"].spec.rate == parse_rate("10/s") and uses["api"].spec.burst == 3
    assert await storage.remove_limit("db") is True
    assert await storage.remove_limit("db") is False
    assert [u.spec.name for u in await storage.limits()] == ["api"]
    assert await storage.retry_now(b.id) is True  # due now: its limit is gone, so it runs
    assert await claim(storage, 2) == [b.id]


async def test_a_paused_queue_does_not_promote_due_tasks(storage: Storage) -> None:
    await storage.set_paused("default", True)
    r = rec(status=S.SCHEDULED, delay=0.05)
    await storage.enqueue([r])
    await asyncio.sleep(0.1)
    assert await claim(storage, 1) == []
    await storage.promote_due()
    assert (await storage.get(r.id)).status is S.SCHEDULED  # type: ignore[union-attr]
    await storage.set_paused("default", False)
    assert await claim(storage, 1) == [r.id]


async def test_cancel_takes_a_throttled_task(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("one", concurrency=1))
    a, b = rec(["one"]), rec(["one"])
    await storage.enqueue([a, b])
    await claim(storage, 2)
    assert await storage.cancel(b.id) is S.CANCELLED


async def test_a_task_not_started_before_it_expires_is_never_run(storage: Storage) -> None:
    now = await storage.now()
    late, fresh = rec(expires_at=now + 0.05), rec(expires_at=now + 3600)
    await storage.enqueue([late, fresh])
    await asyncio.sleep(0.1)
    assert await claim(storage, 2) == [fresh.id]
    got = await storage.get(late.id)
    assert got is not None and got.status is S.CANCELLED and got.started_at is None
    assert got.errors[-1].type == "Expired" and got.errors[-1].message == "not started before it expired"
    assert not got.errors[-1].counted
    events = [e for e in await storage.read_events("0") if e.task_id == late.id]
    assert events[-1].kind == "cancelled" and events[-1].detail == "expired"


async def test_a_result_ttl_deletes_the_completed_run_sooner_than_retention(storage: Storage) -> None:
    short, kept = rec(result_ttl=0.2), rec()
    await storage.enqueue([short, kept])
    leases = await storage.claim(W, ("default",), 2, 30.0, 0.05)
    assert await storage.complete([Ack(x.task.id, x.token, 42) for x in leases]) == [True, True]
    assert await storage.purge_expired() == 0
    assert (await storage.get(short.id)).result == 42  # type: ignore[union-attr]
    await asyncio.sleep(0.3)
    assert await storage.purge_expired() == 1
    assert await storage.get(short.id) is None
    assert (await storage.get(kept.id)).result == 42  # type: ignore[union-attr]
    assert (await storage.counts())[S.COMPLETED] == 1


async def test_task_arguments_named_like_flow_fields_are_only_arguments(storage: Storage) -> None:
    # The Redis scripts look for these keys' text in the payload before decoding it: a key of
    # the task's own kwargs (which come first) must not give the task a result TTL, limits or an
    # expiry, nor make it unique; a real result_ttl after such a kwarg still counts.
    fake = {"result_ttl": 0.05, "limits": ["api"], "expires_at": 1.0, "unique_key": "k", "unique_for": 60}
    plain = rec(kwargs=dict(fake))
    twin = rec(kwargs=dict(fake))
    real = rec(kwargs={"result_ttl": 3600}, result_ttl=0.05)
    assert await storage.enqueue([plain, twin, real]) == [True, True, True]
    leases = await storage.claim(W, ("default",), 3, 30.0, 0.05)
    assert sorted(x.task.id for x in leases) == sorted([plain.id, twin.id, real.id])
    assert await storage.complete([Ack(x.task.id, x.token, 1) for x in leases]) == [True, True, True]
    await asyncio.sleep(0.15)
    assert await storage.purge_expired() == 1
    assert await storage.get(real.id) is None
    for kept in (plain, twin):
        got = await storage.get(kept.id)
        assert got is not None and got.status == S.COMPLETED and got.kwargs == fake


async def test_turns_of_cancelled_throttled_tasks_are_not_kept(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("api", parse_rate("1/m")))
    backlog = [rec(["api"]) for _ in range(6)]
    await storage.enqueue(backlog)
    assert len(await claim(storage, 6)) == 1  # one starts, five wait for turns 1..5 minutes out
    for r in backlog[1:]:
        assert await storage.cancel(r.id) is S.CANCELLED
    late = rec(["api"])
    await storage.enqueue([late])
    await claim(storage, 1)
    got = await storage.get(late.id)
    assert got is not None and got.status is S.THROTTLED
    assert got.run_at < await storage.now() + 61  # the next free turn, not the sixth


async def test_a_waiter_that_got_its_slot_is_no_longer_counted_waiting(storage: Storage) -> None:
    await storage.set_limit(LimitSpec("one", concurrency=1))
    a, b = rec(["one"]), rec(["one"])
    await storage.enqueue([a, b])
    first = (await storage.claim(W, ("default",), 2, 0.3, 0.05))[0]  # b waits for a's slot
    assert first.task.id == a.id
    assert [u.waiting for u in await storage.limits()] == [1]
    await asyncio.sleep(0.4)  # a's lease expires without a release: b is due at that deadline
    assert await claim(storage, 2) == [b.id]
    assert [(u.holding, u.waiting) for u in await storage.limits()] == [(1, 0)]


async def test_a_claim_stops_after_256_throttled_and_loses_none_of_the_rest(storage: Storage) -> None:
    # 300 tasks over one limit, then 5 free ones: one claim's scan is bounded (it stops once 256
    # are throttled; a Redis claim finishes the batch of candidates it read, up to `count` more),
    # every task is still in exactly one state, and later claims reach the free ones
    await storage.set_limit(LimitSpec("one", concurrency=1))
    over = [rec(["one"]) for _ in range(301)]
    free = [rec() for _ in range(5)]
    await storage.enqueue(over + free)
    first = await claim(storage, 10)
    assert first[0] == over[0].id  # the first takes the one slot
    counts = await storage.counts()
    assert 256 <= counts[S.THROTTLED] <= 256 + 10
    assert counts[S.PENDING] + counts[S.THROTTLED] + counts[S.CLAIMED] == 306
    got = list(first)
    for _ in range(3):  # the next scans throttle what is left over the limit and claim every free one
        got += await claim(storage, 10)
    assert sorted(got) == sorted([over[0].id] + [t.id for t in free])
    counts = await storage.counts()
    assert (counts[S.THROTTLED], counts[S.PENDING], counts[S.CLAIMED]) == (300, 0, 6)
