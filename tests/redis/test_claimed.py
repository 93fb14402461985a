"""The claimed status on Redis (semantics §1-8): claim -> claimed, start -> running, outcomes from
either, release without spending, recovery of expired claimed leases, the effective retry budget."""

from __future__ import annotations

import asyncio

from gdw_core.lifecycle import Detail
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Ack, Start
from gdw_core.storage.redis import RedisStorage
from gdw_core.workerinfo import WorkerInfo
from tests.support.redis_server import RedisServer

S = TaskStatus


def rec(task_id: str, **kw: object) -> TaskRecord:
    return TaskRecord(id=task_id, name="proc_tasks:quick", args=[1], **kw)  # type: ignore[arg-type]


def interrupted() -> AttemptError:
    return AttemptError(1, "Interrupted", "worker shut down", "", 0.0, "w")


async def kinds(s: RedisStorage, task_id: str) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind, e.old, e.detail) for e in await s.read_events("0", 1000) if e.task_id == task_id]


async def test_claim_start_complete(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    s = redis_storage
    await s.enqueue([rec("a")])
    [lease] = await s.claim("w", ["default"], 1, 30, 0)
    got = await s.get("a")
    assert got is not None and got.status is S.CLAIMED and got.started_at is None and got.attempts == 1
    assert [t.id for t in await s.list_tasks(S.CLAIMED)] == ["a"]
    assert (await s.counts())[S.CLAIMED] == 1 and (await s.counts())[S.RUNNING] == 0
    now = await s.now()
    assert await s.start([Start("a", lease.token, started_ago=2.0, max_retries=7), Start("a", lease.token + 1)]) == [
        True,
        False,
    ]
    assert await s.start([Start("a", lease.token)]) == [True]  # already running: no new event
    got = await s.get("a")
    assert got is not None and got.status is S.RUNNING and got.max_retries == 7
    assert got.started_at is not None and now - 2.5 < got.started_at < now - 1.5
    assert await s.complete([Ack("a", lease.token, 5)]) == [True]
    assert [k for k, _, _ in await kinds(s, "a")] == ["pending", "claimed", "running", "completed"]


async def test_complete_straight_from_claimed(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("a")])
    [lease] = await s.claim("w", ["default"], 1, 30, 0)
    now = await s.now()
    assert await s.complete([Ack("a", lease.token, 1, started_ago=3.0)]) == [True]
    got = await s.get("a")
    assert got is not None and got.status is S.COMPLETED and got.result == 1
    assert got.started_at is not None and got.started_at < now - 2.5
    assert (await kinds(s, "a"))[-1][:2] == ("completed", "claimed")


async def test_release_never_spends_an_attempt(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("c"), rec("r")])
    leases = {lz.task.id: lz.token for lz in await s.claim("w", ["default"], 2, 30, 0)}
    assert await s.start([Start("r", leases["r"])]) == [True]
    assert await s.release("c", leases["c"], None)
    assert await s.release("r", leases["r"], interrupted())
    c, r = await s.get("c"), await s.get("r")
    assert c is not None and c.status is S.PENDING and c.attempts == 0
    assert r is not None and r.status is S.RETRYING and r.attempts == 0
    assert r.errors[-1].type == "Interrupted" and r.errors[-1].counted is False
    assert (await kinds(s, "r"))[-1] == ("retrying", "running", Detail.RELEASED)
    assert (await kinds(s, "c"))[-1] == ("pending", "claimed", Detail.RELEASED)
    assert not await s.release("c", leases["c"], None)  # stale now
    [again] = await s.claim("w", ["default"], 1, 30, 0)  # the claimed one is back in the queue
    assert again.task.id == "c" and again.task.attempts == 1


async def test_expired_claimed_lease_is_recovered_and_heartbeat_extends_claims(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("kept"), rec("lost", max_retries=0)])
    leases = {lz.task.id: lz.token for lz in await s.claim("w", ["default"], 2, 0.2, 0)}
    reply = await s.heartbeat(WorkerInfo("w", "h", 1, ["default"], 2), {"kept": leases["kept"]}, 30)
    assert reply.lost == frozenset()
    await asyncio.sleep(0.3)
    assert await s.recover_expired() == ["lost"]
    lost = await s.get("lost")
    assert lost is not None and lost.status is S.FAILED and lost.errors[-1].type == "LeaseExpired"
    assert (await kinds(s, "lost"))[-1] == ("failed", "claimed", Detail.POISON)
    kept = await s.get("kept")
    assert kept is not None and kept.status is S.CLAIMED


async def test_cancel_flags_claimed_and_effective_max_retries_decides_poison(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("x", max_retries=0), rec("y", max_retries=0)])
    leases = {lz.task.id: lz for lz in await s.claim("w", ["default"], 2, 0.2, 0)}
    assert await s.cancel("x") is S.CLAIMED
    held = {i: lz.token for i, lz in leases.items()}
    reply = await s.heartbeat(WorkerInfo("w", "h", 1, ["default"], 2), held, 0.2)
    assert reply.cancel == {"x"}
    starts = [Start(i, lz.token, max_retries=3) for i, lz in leases.items()]
    assert await s.start(starts) == [True, True]
    await asyncio.sleep(0.3)
    assert sorted(await s.recover_expired()) == ["x", "y"]
    x, y = await s.get("x"), await s.get("y")
    assert x is not None and x.status is S.CANCELLED  # the cancel request is honoured, not retried
    # 1 attempt of 4 (the @task policy the start mark carried), not poison under the record's 0
    assert y is not None and y.status is S.RETRYING and y.max_retries == 3
