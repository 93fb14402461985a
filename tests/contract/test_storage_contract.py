"""The storage contract: every backend (memory, Redis, Redis Cluster) must pass these unchanged.

Time here is the storage's own (``await storage.now()``); delays are kept large enough relative to
the assertions that a slow, shared machine cannot flip an outcome."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gdw_core import AttemptError, QueueFull, RecurringEntry, TaskNotFound, TaskRecord, TaskStatus
from gdw_core.status import TRANSITIONS
from gdw_core.storage.protocol import Ack, Command, Start, Storage
from gdw_core.workerinfo import WorkerInfo

S = TaskStatus
W = "worker-a"


def rec(name: str = "demo_tasks:fast", **kw: object) -> TaskRecord:
    kw.setdefault("id", uuid.uuid4().hex)
    return TaskRecord(name=name, **kw)  # type: ignore[arg-type]


def err(attempt: int = 1, kind: str = "ValueError") -> AttemptError:
    return AttemptError(attempt, kind, "boom", "Traceback ...", 0.0, W)


async def claim_one(storage: Storage, queues: tuple[str, ...] = ("default",), lease: float = 30.0):
    leases = await storage.claim(W, queues, 1, lease, 0.5)
    assert len(leases) == 1, "expected one task to claim"
    return leases[0]


async def test_enqueue_then_get_round_trips_every_field(storage: Storage) -> None:
    r = rec(args=[1, "two", [3]], kwargs={"k": {"n": None}}, queue="q1", priority=5, timeout=2.5, secret=True)
    assert await storage.enqueue([r]) == [True]
    got = await storage.get(r.id)
    assert got is not None
    assert (got.name, got.args, got.kwargs, got.queue, got.priority, got.timeout, got.secret) == (
        "demo_tasks:fast",
        [1, "two", [3]],
        {"k": {"n": None}},
        "q1",
        5,
        2.5,
        True,
    )
    assert got.status is S.PENDING and got.attempts == 0 and got.created_at > 0


async def test_enqueue_is_idempotent_by_id(storage: Storage) -> None:
    r = rec()
    assert await storage.enqueue([r]) == [True]
    again = rec(id=r.id, args=["different"])
    assert await storage.enqueue([again]) == [False]
    assert (await storage.get(r.id)).args == []  # type: ignore[union-attr]
    assert (await storage.counts())[S.PENDING] == 1


async def test_unknown_id_is_none_and_control_raises(storage: Storage) -> None:
    assert await storage.get("nope") is None
    with pytest.raises(TaskNotFound):
        await storage.cancel("nope")
    with pytest.raises(TaskNotFound):
        await storage.retry_now("nope")


async def test_claim_leases_counts_an_attempt_and_completes_with_token(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    assert lease.task.id == r.id and lease.task.status is S.CLAIMED and lease.task.attempts == 1
    assert lease.deadline > await storage.now()
    claimed = await storage.get(r.id)
    assert claimed is not None and claimed.status is S.CLAIMED and claimed.worker == W
    assert claimed.started_at is None  # not started until its start mark
    assert await storage.start([Start(r.id, lease.token)]) == [True]
    running = await storage.get(r.id)
    assert running is not None and running.status is S.RUNNING and running.started_at is not None
    assert await storage.complete([Ack(r.id, lease.token, {"ok": [1, 2]})]) == [True]
    done = await storage.get(r.id)
    assert done is not None and done.status is S.COMPLETED and done.result == {"ok": [1, 2]}
    assert done.finished_at is not None and done.finished_at >= done.started_at  # type: ignore[operator]


async def test_stale_token_is_refused_everywhere(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    bad = lease.token + 1000
    assert await storage.complete([Ack(r.id, bad, 1)]) == [False]
    assert await storage.fail(r.id, bad, err(), 1.0) is None
    assert await storage.release(r.id, bad, None) is False
    assert await storage.progress(r.id, bad, 0.5) is False
    assert await storage.start([Start(r.id, bad)]) == [False]
    assert (await storage.get(r.id)).status is S.CLAIMED  # type: ignore[union-attr]
    assert await storage.start([Start(r.id, lease.token)]) == [True]
    assert await storage.complete([Ack(r.id, bad, 1)]) == [False]
    assert await storage.fail(r.id, bad, err(), 1.0) is None
    assert await storage.release(r.id, bad, None) is False
    assert await storage.cancel_running(r.id, bad, err(kind="TaskCancelled")) is False
    assert (await storage.get(r.id)).status is S.RUNNING  # type: ignore[union-attr]


async def test_claim_takes_many_in_priority_order_and_respects_count(storage: Storage) -> None:
    low, high, mid = rec(priority=0), rec(priority=9), rec(priority=5)
    await storage.enqueue([low, high, mid])
    leases = await storage.claim(W, ["default"], 2, 30.0, 0.5)
    assert [lz.task.id for lz in leases] == [high.id, mid.id]
    rest = await storage.claim(W, ["default"], 10, 30.0, 0.1)
    assert [lz.task.id for lz in rest] == [low.id]


async def test_same_priority_is_fifo(storage: Storage) -> None:
    records = [rec() for _ in range(5)]
    await storage.enqueue(records)
    leases = await storage.claim(W, ["default"], 5, 30.0, 0.5)
    assert [lz.task.id for lz in leases] == [r.id for r in records]


async def test_claim_serves_only_its_queues(storage: Storage) -> None:
    a, b = rec(queue="emails"), rec(queue="reports")
    await storage.enqueue([a, b])
    leases = await storage.claim(W, ["emails"], 10, 30.0, 0.2)
    assert [lz.task.id for lz in leases] == [a.id]
    both = await storage.claim(W, ["emails", "reports"], 10, 30.0, 0.2)
    assert [lz.task.id for lz in both] == [b.id]


async def test_claim_waits_for_work_then_returns_it(storage: Storage) -> None:
    r = rec()

    async def later() -> None:
        await asyncio.sleep(0.2)
        await storage.enqueue([r])

    producer = asyncio.create_task(later())
    leases = await storage.claim(W, ["default"], 1, 30.0, 5.0)
    await producer
    assert [lz.task.id for lz in leases] == [r.id]


async def test_empty_claim_returns_nothing_after_wait(storage: Storage) -> None:
    assert await storage.claim(W, ["default"], 3, 30.0, 0.1) == []


async def test_paused_queue_is_not_claimed_until_resumed(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    await storage.set_paused("default", True)
    assert await storage.claim(W, ["default"], 1, 30.0, 0.1) == []
    infos = {q.name: q for q in await storage.queues()}
    assert infos["default"].paused is True
    await storage.set_paused("default", False)
    assert [lz.task.id for lz in await storage.claim(W, ["default"], 1, 30.0, 0.5)] == [r.id]


async def test_fail_with_delay_retries_when_due(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    before = await storage.now()
    assert await storage.fail(r.id, lease.token, err(), 0.4) is S.RETRYING
    got = await storage.get(r.id)
    assert got is not None and got.status is S.RETRYING
    assert before + 0.4 - 0.05 <= got.run_at <= before + 0.4 + 1.0
    assert got.errors[0].type == "ValueError" and got.errors[0].message == "boom"
    await storage.promote_due()
    assert (await storage.get(r.id)).status is S.RETRYING  # type: ignore[union-attr]
    await asyncio.sleep(0.5)
    await storage.promote_due()
    assert (await storage.get(r.id)).status is S.PENDING  # type: ignore[union-attr]
    again = await claim_one(storage)
    assert again.task.attempts == 2 and again.token != lease.token


async def test_fail_without_delay_is_final(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    assert await storage.fail(r.id, lease.token, err(kind="SkipRetry"), None) is S.FAILED
    got = await storage.get(r.id)
    assert got is not None and got.status is S.FAILED and got.finished_at is not None
    assert [e.type for e in got.errors] == ["SkipRetry"]


async def test_release_unstarted_does_not_count_the_attempt(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    assert await storage.release(r.id, lease.token, None) is True
    got = await storage.get(r.id)  # claimed -> pending at once: no promotion needed
    assert got is not None and got.status is S.PENDING and got.attempts == 0 and got.errors == []
    assert got.started_at is None


async def test_release_interrupted_gives_the_attempt_back_with_an_uncounted_note(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    assert await storage.start([Start(r.id, lease.token)]) == [True]
    assert await storage.release(r.id, lease.token, err(kind="Interrupted")) is True
    got = await storage.get(r.id)
    assert got is not None and got.status is S.RETRYING and got.run_at <= await storage.now()
    await storage.promote_due()
    got = await storage.get(r.id)
    assert got is not None and got.status is S.PENDING and got.attempts == 0
    assert [(e.type, e.counted) for e in got.errors] == [("Interrupted", False)]


async def test_scheduled_by_delay_becomes_pending_only_when_due(storage: Storage) -> None:
    r = rec(status=S.SCHEDULED, delay=0.5)
    await storage.enqueue([r])
    got = await storage.get(r.id)
    assert got is not None and got.status is S.SCHEDULED
    assert await storage.claim(W, ["default"], 1, 30.0, 0.05) == []
    nxt = await storage.promote_due()
    assert nxt is not None and nxt == pytest.approx(got.run_at)
    await asyncio.sleep(0.6)
    await storage.promote_due()
    assert (await storage.get(r.id)).status is S.PENDING  # type: ignore[union-attr]


async def test_scheduled_at_past_time_is_pending(storage: Storage) -> None:
    now = await storage.now()
    r = rec(status=S.SCHEDULED, run_at=now - 10)
    await storage.enqueue([r])
    await storage.promote_due()
    assert (await storage.get(r.id)).status is S.PENDING  # type: ignore[union-attr]


async def test_max_waiting_raises_queue_full_and_keeps_the_rest(storage: Storage) -> None:
    await storage.enqueue([rec(), rec()], max_waiting=2)
    with pytest.raises(QueueFull):
        await storage.enqueue([rec()], max_waiting=2)
    assert (await storage.counts())[S.PENDING] == 2
    await storage.enqueue([rec(queue="other")], max_waiting=2)  # the limit is per queue


async def test_a_batch_that_fills_the_queue_says_which_of_its_tasks_were_enqueued(storage: Storage) -> None:
    await storage.enqueue([rec()], max_waiting=3)
    batch = [rec() for _ in range(5)]
    with pytest.raises(QueueFull) as full:
        await storage.enqueue(batch, max_waiting=3)
    assert full.value.enqueued == [batch[0].id, batch[1].id]
    assert "2 of the tasks were enqueued before it filled" in str(full.value)
    assert [await storage.get(r.id) is not None for r in batch] == [True, True, False, False, False]
    with pytest.raises(QueueFull) as alone:
        await storage.enqueue([rec()], max_waiting=3)
    assert alone.value.enqueued == [] and "nothing was enqueued" in str(alone.value)


async def test_cancel_waiting_is_immediate(storage: Storage) -> None:
    p, s = rec(), rec(status=S.SCHEDULED, delay=60)
    await storage.enqueue([p, s])
    assert await storage.cancel(p.id) is S.CANCELLED
    assert await storage.cancel(s.id) is S.CANCELLED
    assert await storage.claim(W, ["default"], 5, 30.0, 0.05) == []
    assert (await storage.counts())[S.CANCELLED] == 2


async def test_cancel_running_asks_its_worker_through_the_heartbeat(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    assert await storage.start([Start(r.id, lease.token)]) == [True]
    assert await storage.cancel(r.id) is S.RUNNING
    assert (await storage.get(r.id)).cancel_requested is True  # type: ignore[union-attr]
    info = WorkerInfo(W, "host", 1, ["default"], 1)
    reply = await storage.heartbeat(info, {r.id: lease.token}, 30.0)
    assert r.id in reply.cancel
    assert await storage.cancel_running(r.id, lease.token, err(kind="TaskCancelled")) is True
    got = await storage.get(r.id)
    assert got is not None and got.status is S.CANCELLED and got.errors[-1].type == "TaskCancelled"


async def test_cancel_finished_task_leaves_it(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    await storage.complete([Ack(r.id, lease.token, None)])
    assert await storage.cancel(r.id) is S.COMPLETED


async def test_retry_now_makes_retrying_and_scheduled_due(storage: Storage) -> None:
    r, s = rec(), rec(status=S.SCHEDULED, delay=3600)
    await storage.enqueue([r, s])
    lease = await claim_one(storage)
    await storage.fail(r.id, lease.token, err(), 3600.0)
    assert await storage.retry_now(r.id) is True
    assert await storage.retry_now(s.id) is True
    assert {(await storage.get(x.id)).status for x in (r, s)} == {S.PENDING}  # type: ignore[union-attr]
    assert await storage.retry_now(r.id) is False  # already pending


async def test_expired_lease_is_recovered_counting_the_attempt(storage: Storage) -> None:
    r = rec(max_retries=3)
    await storage.enqueue([r])
    await claim_one(storage, lease=0.2)
    assert await storage.recover_expired() == []
    await asyncio.sleep(0.35)
    assert await storage.recover_expired() == [r.id]
    assert await storage.recover_expired() == []  # idempotent
    await storage.promote_due()
    got = await storage.get(r.id)
    assert got is not None and got.status is S.PENDING and got.attempts == 1
    assert got.errors[-1].type == "LeaseExpired"


async def test_recovered_worker_cannot_write_its_outcome(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    stale = await claim_one(storage, lease=0.2)
    await asyncio.sleep(0.35)
    await storage.recover_expired()
    await storage.promote_due()
    fresh = await claim_one(storage)
    assert fresh.token != stale.token
    assert await storage.complete([Ack(r.id, stale.token, "stale")]) == [False]
    assert await storage.fail(r.id, stale.token, err(), None) is None
    info = WorkerInfo(W, "host", 1, ["default"], 1)
    assert r.id in (await storage.heartbeat(info, {r.id: stale.token}, 30.0)).lost
    assert await storage.complete([Ack(r.id, fresh.token, "fresh")]) == [True]
    assert (await storage.get(r.id)).result == "fresh"  # type: ignore[union-attr]


async def test_poison_task_fails_after_its_attempts_are_spent(storage: Storage) -> None:
    r = rec(max_retries=1)
    await storage.enqueue([r])
    for _ in range(2):
        await storage.promote_due()
        await claim_one(storage, lease=0.15)
        await asyncio.sleep(0.25)
        assert await storage.recover_expired() == [r.id]
    got = await storage.get(r.id)
    assert got is not None and got.status is S.FAILED and got.attempts == 2
    assert [e.type for e in got.errors] == ["LeaseExpired", "LeaseExpired"]


async def test_heartbeat_extends_leases_and_publishes_the_worker(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage, lease=1.0)
    info = WorkerInfo(W, "host-1", 4242, ["default"], 3, busy=1, tasks=["demo_tasks:fast"])
    await asyncio.sleep(0.6)
    reply = await storage.heartbeat(info, {r.id: lease.token}, 1.0)
    assert reply.lost == frozenset()
    await asyncio.sleep(0.6)  # past the first deadline, inside the extended one
    assert await storage.recover_expired() == []
    workers = {w.id: w for w in await storage.workers()}
    assert workers[W].host == "host-1" and workers[W].pid == 4242 and workers[W].busy == 1
    assert workers[W].tasks == ["demo_tasks:fast"] and workers[W].last_seen > 0
    await storage.remove_worker(W)
    kept = {w.id: w for w in await storage.workers()}[W]  # kept as history, not deleted
    assert (kept.state, kept.busy, kept.claimed, kept.held) == ("stopped", 0, 0, [])


async def test_commands_reach_the_targeted_worker_once(storage: Storage) -> None:
    a = WorkerInfo("wa", "h", 1, ["default"], 1)
    b = WorkerInfo("wb", "h", 2, ["default"], 1)
    await storage.heartbeat(a, {}, 30.0)
    await storage.heartbeat(b, {}, 30.0)
    await storage.send_command(Command("shutdown", "wa", 5.0))
    await storage.send_command(Command("shutdown", None, None, True))
    got_a = (await storage.heartbeat(a, {}, 30.0)).commands
    got_b = (await storage.heartbeat(b, {}, 30.0)).commands
    assert [(c.kind, c.worker, c.timeout, c.immediate) for c in got_a] == [
        ("shutdown", "wa", 5.0, False),
        ("shutdown", None, None, True),
    ]
    assert [(c.worker, c.immediate) for c in got_b] == [(None, True)]
    assert (await storage.heartbeat(a, {}, 30.0)).commands == ()


async def test_progress_is_stored(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    assert await storage.progress(r.id, lease.token, {"done": 3, "of": 10}) is True
    assert (await storage.get(r.id)).progress == {"done": 3, "of": 10}  # type: ignore[union-attr]


async def test_recurring_ticks_fire_once_with_deterministic_ids(storage: Storage) -> None:
    now = await storage.now()
    entry = RecurringEntry(id="beat", name="demo_tasks:heartbeat", interval=0.3, next_run=now - 0.01)
    assert await storage.add_recurring(entry) is True
    first = await storage.fire_recurring()
    assert len(first) == 1 and first[0].startswith("beat@")
    assert await storage.fire_recurring() == []  # same tick: nothing more, however often asked
    entries = await storage.recurring()
    assert [e.id for e in entries] == ["beat"] and entries[0].next_run > now
    task = await storage.get(first[0])
    assert task is not None and task.recurring_id == "beat" and task.name == "demo_tasks:heartbeat"
    assert await storage.remove_recurring("beat") is True
    assert await storage.remove_recurring("beat") is False
    assert await storage.recurring() == []


async def test_recurring_skips_a_tick_while_the_previous_run_is_unfinished(storage: Storage) -> None:
    now = await storage.now()
    await storage.add_recurring(RecurringEntry(id="slow", name="m:f", interval=0.2, next_run=now - 0.01))
    [first] = await storage.fire_recurring()
    await asyncio.sleep(0.25)
    assert await storage.fire_recurring() == []  # first run still pending: no pile-up
    lease = await claim_one(storage)
    await storage.complete([Ack(first, lease.token, None)])
    await asyncio.sleep(0.25)
    assert len(await storage.fire_recurring()) == 1


async def test_recurring_with_overlap_fires_every_tick(storage: Storage) -> None:
    now = await storage.now()
    await storage.add_recurring(
        RecurringEntry(id="o", name="m:f", interval=0.2, next_run=now - 0.01, allow_overlap=True)
    )
    assert len(await storage.fire_recurring()) == 1
    await asyncio.sleep(0.25)
    assert len(await storage.fire_recurring()) == 1


async def test_counts_and_pages_by_status_and_queue(storage: Storage) -> None:
    records = [rec(queue="a") for _ in range(7)] + [rec(queue="b") for _ in range(3)]
    await storage.enqueue(records)
    assert (await storage.counts())[S.PENDING] == 10
    assert (await storage.counts("a"))[S.PENDING] == 7
    page1 = await storage.list_tasks(S.PENDING, "a", 0, 4)
    page2 = await storage.list_tasks(S.PENDING, "a", 4, 4)
    assert [r.id for r in page1 + page2] == [r.id for r in records[:7]]
    assert len(await storage.list_tasks(S.PENDING, None, 0, 100)) == 10
    leases = await storage.claim(W, ["a"], 2, 30.0, 0.2)
    await storage.complete([Ack(lz.task.id, lz.token, None) for lz in leases])
    done = await storage.list_tasks(S.COMPLETED, None, 0, 10)
    assert [r.id for r in done] == [records[1].id, records[0].id]  # newest first
    assert (await storage.counts("a"))[S.COMPLETED] == 2


async def test_events_follow_the_transition_table(storage: Storage) -> None:
    start = await storage.last_event_id()
    r = rec()
    await storage.enqueue([r])
    lease = await claim_one(storage)
    await storage.start([Start(r.id, lease.token)])
    await storage.fail(r.id, lease.token, err(), 0.0)
    await storage.promote_due()
    lease = await claim_one(storage)
    await storage.complete([Ack(r.id, lease.token, 42)])
    events = [e for e in await storage.read_events(start, 100) if e.task_id == r.id]
    assert [(e.old, e.kind) for e in events] == [
        (None, "pending"),
        ("pending", "claimed"),
        ("claimed", "running"),
        ("running", "retrying"),
        ("retrying", "pending"),
        ("pending", "claimed"),
        ("claimed", "completed"),
    ]
    for e in events[1:]:
        assert S(e.kind) in TRANSITIONS[S(e.old)]  # type: ignore[arg-type]
    assert all(e.name == r.name and e.queue == "default" for e in events)
    assert await storage.read_events(events[-1].id, 10) == []


async def test_read_events_waits_for_the_next_one(storage: Storage) -> None:
    start = await storage.last_event_id()

    async def later() -> None:
        await asyncio.sleep(0.2)
        await storage.enqueue([rec()])

    producer = asyncio.create_task(later())
    events = await storage.read_events(start, 10, wait=5.0)
    await producer
    assert [e.kind for e in events] == ["pending"]
