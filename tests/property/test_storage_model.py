"""Property-based tests of the storage contract (issue 10, "Proof") on memory and Redis.

Hypothesis draws a list of operations; an async driver runs them against a fresh storage and a
simple model, and after every step checks: each task has one status equal to the model's, its
attempts equal the model's (claim +1, release -1, rerun -> 0), counts() equal the model's per
state, nothing is leased without a lease (claimed/running have a worker), and every event is an
allowed transition following the previous one, with at most one terminal event between re-runs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdw_core import ManualClock, MemoryStorage
from gdw_core import lifecycle as L
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.status import TERMINAL, TRANSITIONS, TaskStatus
from gdw_core.storage.protocol import Ack, Start, Storage
from gdw_core.storage.redis import RedisStorage
from gdw_core.workerinfo import WorkerInfo
from tests.support.redis_server import RedisServer

S = TaskStatus
W = "w-prop"
FAR = 1_000_000.0  # a delay that never elapses during one example
MAX_RETRIES = 1
LEASE = 30.0  # long: a lease expires only when an "expire" step makes it

#: weighted: producing and claiming often enough that most examples reach every later state
WEIGHTED = (
    ["submit"] * 4
    + ["schedule"]
    + ["claim"] * 4
    + ["start"] * 2
    + ["release"] * 2
    + ["promote"] * 2
    + ["complete", "fail_retry", "fail_final", "cancel", "retry_now", "rerun", "heartbeat", "expire"]
    + ["pause", "resume", "purge"]
)
OPS = st.lists(st.tuples(st.sampled_from(WEIGHTED), st.integers(0, 3)), min_size=12, max_size=40)


@dataclass
class Task:
    status: TaskStatus
    attempts: int = 0
    token: int | None = None
    due: bool = False  # a retrying task due now (promote moves it to pending)
    cancel_asked: bool = False  # an operator asked to cancel it while it was leased


class Model:
    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.paused = False

    def ids(self, *states: TaskStatus) -> list[str]:
        return sorted(i for i, t in self.tasks.items() if t.status in states)


Expire = Callable[[Storage, "Model"], Awaitable[None]]


def pick(ids: list[str], n: int) -> str | None:
    return ids[n % len(ids)] if ids else None


def err(attempt: int, now: float) -> AttemptError:
    return AttemptError(attempt, "ValueError", "boom", "", now, W)


def promote(m: Model) -> None:
    for tid in m.ids(S.RETRYING):
        if m.tasks[tid].due:
            m.tasks[tid].status, m.tasks[tid].due = S.PENDING, False


async def step(storage: Storage, m: Model, op: str, n: int, seq: Callable[[], int], expire: Expire) -> None:
    now = await storage.now()
    if op in ("submit", "schedule"):
        tid = f"t{seq()}"
        rec = TaskRecord(
            id=tid,
            name="job",
            priority=n,
            max_retries=MAX_RETRIES,
            status=S.SCHEDULED if op == "schedule" else S.PENDING,
            delay=FAR if op == "schedule" else None,
        )
        assert await storage.enqueue([rec]) == [True]
        m.tasks[tid] = Task(S.SCHEDULED if op == "schedule" else S.PENDING)
    elif op == "claim":
        leases = await storage.claim(W, ["default"], 1, LEASE, 0.0)
        if not m.paused:  # claim promotes the due scheduled/retrying tasks first; a paused queue does not
            promote(m)
        pending = m.ids(S.PENDING)
        assert len(leases) == (0 if m.paused else min(1, len(pending)))
        for lease in leases:
            t = m.tasks[lease.task.id]
            assert t.status is S.PENDING
            t.status, t.token, t.attempts = S.CLAIMED, lease.token, L.attempts_after_claim(t.attempts)
    elif op == "start":
        tid = pick(m.ids(S.CLAIMED, S.RUNNING), n)
        if tid:
            t = m.tasks[tid]
            assert await storage.start([Start(tid, t.token or 0)]) == [True]
            t.status = S.RUNNING
    elif op == "complete":
        tid = pick(m.ids(S.CLAIMED, S.RUNNING), n)
        if tid:
            assert await storage.complete([Ack(tid, m.tasks[tid].token or 0, result=n)]) == [True]
            m.tasks[tid].status = S.COMPLETED
    elif op in ("fail_retry", "fail_final"):
        tid = pick(m.ids(S.CLAIMED, S.RUNNING), n)
        if tid:
            t = m.tasks[tid]
            got = await storage.fail(tid, t.token or 0, err(t.attempts, now), FAR if op == "fail_retry" else None)
            t.status, t.due = (S.RETRYING, False) if op == "fail_retry" else (S.FAILED, False)
            if t.status is S.RETRYING and t.cancel_asked:  # a cancel request is honoured, not retried
                t.status = S.CANCELLED
            assert got is t.status
    elif op == "cancel":
        tid = pick(sorted(m.tasks), n)
        if tid:
            t = m.tasks[tid]
            if t.status in (S.SCHEDULED, S.PENDING, S.RETRYING):
                t.status = S.CANCELLED
            elif t.status in (S.CLAIMED, S.RUNNING):
                t.cancel_asked = True
            assert await storage.cancel(tid) is t.status
    elif op == "retry_now":
        tid = pick(sorted(m.tasks), n)
        if tid:
            t = m.tasks[tid]
            movable = t.status in (S.SCHEDULED, S.RETRYING)
            assert await storage.retry_now(tid) is movable
            if movable:
                t.status = S.PENDING
    elif op == "rerun":
        tid = pick(sorted(m.tasks), n)
        if tid:
            t = m.tasks[tid]
            item = await storage.rerun(tid)
            ok = t.status in (S.FAILED, S.CANCELLED, S.SCHEDULED, S.RETRYING)
            assert item.done is ok, item
            if t.status in (S.FAILED, S.CANCELLED):
                t.attempts = L.attempts_after_rerun(t.attempts)
                t.cancel_asked = False
            if ok:
                t.status = S.PENDING
    elif op == "release":
        tid = pick(m.ids(S.CLAIMED, S.RUNNING), n)
        if tid:
            t = m.tasks[tid]
            assert await storage.release(tid, t.token or 0, None) is True
            t.attempts = L.attempts_after_release(t.attempts)
            if t.cancel_asked:  # a cancel request is honoured, never carried back into the queue
                t.status = S.CANCELLED
            else:
                t.status, t.due = (S.PENDING, False) if t.status is S.CLAIMED else (S.RETRYING, True)
    elif op == "heartbeat":
        held = {i: m.tasks[i].token or 0 for i in m.ids(S.CLAIMED, S.RUNNING)}
        info = WorkerInfo(id=W, host="h", pid=1, queues=["default"], concurrency=2, held=sorted(held))
        reply = await storage.heartbeat(info, held, LEASE)
        assert reply.lost == frozenset()
        asked = set()
        for i in held:
            got = await storage.get(i)
            if got is not None and got.cancel_requested:
                asked.add(i)
        assert reply.cancel == asked
        leases_extended = [r for r in await storage.list_tasks(S.CLAIMED, limit=100)] + [
            r for r in await storage.list_tasks(S.RUNNING, limit=100)
        ]
        assert sorted(r.id for r in leases_extended) == sorted(held)
    elif op == "expire":
        await expire(storage, m)
        recovered = await storage.recover_expired()
        leased = m.ids(S.CLAIMED, S.RUNNING)
        assert sorted(recovered) == leased
        for tid in leased:
            t = m.tasks[tid]
            if t.cancel_asked:
                t.status = S.CANCELLED
            elif L.is_poison(t.attempts, MAX_RETRIES):
                t.status = S.FAILED
            else:
                t.status, t.due = S.RETRYING, True
    elif op == "promote":
        await storage.promote_due()
        if not m.paused:
            promote(m)
    elif op in ("pause", "resume"):
        await storage.set_paused("default", op == "pause")
        m.paused = op == "pause"
    elif op == "purge":
        assert await storage.purge_expired() == 0  # nothing is old or numerous enough


async def check(storage: Storage, m: Model) -> None:
    for tid, t in m.tasks.items():
        got = await storage.get(tid)
        assert got is not None, tid
        assert (got.status, got.attempts) == (t.status, t.attempts), (tid, got.status, got.attempts, t)
        if got.status in (S.CLAIMED, S.RUNNING):
            assert got.worker == W, tid
    counts = await storage.counts()
    expected = {s: len(m.ids(s)) for s in TaskStatus}
    assert {s: counts.get(s, 0) for s in TaskStatus} == expected
    last: dict[str, S | None] = {}
    terminal_since_rerun: dict[str, int] = {}
    for ev in await storage.read_events("0", limit=10_000):
        if ev.task_id is None or ev.kind not in {s.value for s in TaskStatus}:
            continue
        new = S(ev.kind)
        old = None if ev.old is None else S(ev.old)
        assert old == last.get(ev.task_id), (ev, last.get(ev.task_id))
        if old is None:
            assert new in (S.PENDING, S.SCHEDULED), ev
        else:
            assert new in TRANSITIONS[old], ev
            if old in TERMINAL:  # a re-run
                terminal_since_rerun[ev.task_id] = 0
        if new in TERMINAL:
            terminal_since_rerun[ev.task_id] = terminal_since_rerun.get(ev.task_id, 0) + 1
            assert terminal_since_rerun[ev.task_id] == 1, ev
        last[ev.task_id] = new
    assert {k: v for k, v in last.items() if k in m.tasks} == {k: t.status for k, t in m.tasks.items()}


async def drive(storage: Storage, ops: list[tuple[str, int]], expire: Expire) -> None:
    model = Model()
    counter = itertools.count()
    await storage.open()
    try:
        for op, n in ops:
            await step(storage, model, op, n, lambda: next(counter), expire)
            await check(storage, model)
    finally:
        await storage.close()


@pytest.mark.property
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_memory_storage_follows_the_model(ops: list[tuple[str, int]]) -> None:
    clock = ManualClock()
    storage = MemoryStorage(clock=clock)

    async def expire(_storage: Storage, _m: Model) -> None:
        clock.advance(LEASE + 1.0)

    asyncio.run(drive(storage, ops, expire))


@pytest.mark.property
@pytest.mark.redis
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_redis_storage_follows_the_model(redis_server: RedisServer, ops: list[tuple[str, int]]) -> None:
    redis_server.cli("flushall")
    storage = RedisStorage.from_url(redis_server.url)

    async def expire(s: Storage, m: Model) -> None:
        # Redis time is real: shorten the leases held (a heartbeat sets deadline = now + lease),
        # then let them run out
        held = {i: m.tasks[i].token or 0 for i in m.ids(S.CLAIMED, S.RUNNING)}
        if held:
            info = WorkerInfo(id=W, host="h", pid=1, queues=["default"], concurrency=2, held=sorted(held))
            await s.heartbeat(info, held, 0.05)
            await asyncio.sleep(0.15)

    asyncio.run(drive(storage, ops, expire))
