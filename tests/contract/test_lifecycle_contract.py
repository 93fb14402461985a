"""The lifecycle contract (/work/shared semantics, points 1-11): claimed vs running, start marks,
completion from claimed and the result safety net, release without spending, recovery of claimed
and running leases, poison, cancel of a claimed task, the worker history and the scheduler's next
wake-up. Every backend runs these through the ``storage`` fixture, unchanged.

Time is the storage's own; sleeps only wait for a lease or a heartbeat to go stale, and are long
enough relative to the values involved that a loaded machine cannot flip an outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gdw_core import AttemptError, RecurringEntry, TaskRecord, TaskStatus
from gdw_core.inspect import Inspector
from gdw_core.lifecycle import WORKER_HISTORY_MAX, Detail, stale_after
from gdw_core.storage.protocol import Ack, Lease, Start, Storage
from gdw_core.workerinfo import WorkerInfo
from tests.contract.records import W, rec

S = TaskStatus


def err(kind: str = "ValueError", attempt: int = 1) -> AttemptError:
    return AttemptError(attempt, kind, "boom", "Traceback ...", 0.0, W)


def worker(worker_id: str = W, **kw: Any) -> WorkerInfo:
    kw.setdefault("concurrency", 2)
    return WorkerInfo(worker_id, "host", 1, ["default"], **kw)


async def claimed(storage: Storage, n: int = 1, lease: float = 30.0, **kw: Any) -> list[Lease]:
    records = [rec(**kw) for _ in range(n)]
    await storage.enqueue(records)
    leases = await storage.claim(W, ["default"], n, lease, 0.5)
    assert [lz.task.id for lz in leases] == [r.id for r in records]
    return leases


async def events_of(storage: Storage, after: str, task_id: str) -> list[tuple[str | None, str, str | None]]:
    return [(e.old, e.kind, e.detail) for e in await storage.read_events(after, 500) if e.task_id == task_id]


async def get(storage: Storage, task_id: str) -> TaskRecord:
    got = await storage.get(task_id)
    assert got is not None
    return got


# -- 1. claim ---------------------------------------------------------------------------------
async def test_claim_makes_a_task_claimed_not_running(storage: Storage) -> None:
    start = await storage.last_event_id()
    before = await storage.now()
    [lease] = await claimed(storage, lease=20.0)
    got = await get(storage, lease.task.id)
    assert (got.status, got.attempts, got.worker, got.started_at) == (S.CLAIMED, 1, W, None)
    assert before + 20.0 - 1.0 <= lease.deadline <= await storage.now() + 20.0
    counts = await storage.counts()
    assert (counts[S.CLAIMED], counts[S.RUNNING], counts[S.PENDING]) == (1, 0, 0)
    assert [r.id for r in await storage.list_tasks(S.CLAIMED)] == [lease.task.id]
    assert await storage.list_tasks(S.RUNNING) == []
    assert [(old, kind) for old, kind, _ in await events_of(storage, start, lease.task.id)] == [
        (None, "pending"),
        ("pending", "claimed"),
    ]


async def test_every_claim_has_a_higher_token(storage: Storage) -> None:
    [first] = await claimed(storage)
    assert await storage.release(first.task.id, first.token, None) is True
    [second] = await storage.claim(W, ["default"], 1, 30.0, 0.5)
    assert second.task.id == first.task.id and second.token > first.token


# -- 2. start ---------------------------------------------------------------------------------
async def test_start_moves_claimed_to_running_from_when_the_slot_started(storage: Storage) -> None:
    [lease] = await claimed(storage)
    start = await storage.last_event_id()
    before = await storage.now()
    assert await storage.start([Start(lease.task.id, lease.token, started_ago=5.0)]) == [True]
    got = await get(storage, lease.task.id)
    assert got.status is S.RUNNING and got.started_at is not None
    assert before - 5.0 - 0.5 <= got.started_at <= await storage.now() - 5.0
    assert [(old, kind) for old, kind, _ in await events_of(storage, start, lease.task.id)] == [("claimed", "running")]
    assert [r.id for r in await storage.list_tasks(S.RUNNING)] == [lease.task.id]
    assert (await storage.counts())[S.CLAIMED] == 0


async def test_start_is_idempotent_under_its_token_and_refused_when_stale(storage: Storage) -> None:
    a, b = await claimed(storage, 2)
    assert await storage.start([Start(a.task.id, a.token)]) == [True]
    started_at = (await get(storage, a.task.id)).started_at
    mark = await storage.last_event_id()
    # a repeated mark: True, nothing new; a stale token and an unknown id: False; b still starts
    got = await storage.start(
        [Start(a.task.id, a.token, 9.0), Start(b.task.id, b.token + 99), Start("nope", 1), Start(b.task.id, b.token)]
    )
    assert got == [True, False, False, True]
    assert (await get(storage, a.task.id)).started_at == started_at
    assert await events_of(storage, mark, a.task.id) == []


async def test_start_refuses_a_task_that_is_not_claimed(storage: Storage) -> None:
    [lease] = await claimed(storage)
    await storage.release(lease.task.id, lease.token, None)  # back to pending
    assert await storage.start([Start(lease.task.id, lease.token)]) == [False]
    assert (await get(storage, lease.task.id)).status is S.PENDING


async def test_start_records_the_effective_retry_budget(storage: Storage) -> None:
    [lease] = await claimed(storage, max_retries=3)
    assert await storage.start([Start(lease.task.id, lease.token, 0.0, max_retries=5)]) == [True]
    assert (await get(storage, lease.task.id)).max_retries == 5
    assert await storage.fail(lease.task.id, lease.token, err(), 0.0) is S.RETRYING
    got = await get(storage, lease.task.id)
    assert (got.max_retries, got.max_attempts, got.attempts) == (5, 6, 1)


async def test_a_mark_without_a_budget_keeps_the_records(storage: Storage) -> None:
    [lease] = await claimed(storage, max_retries=2)
    await storage.start([Start(lease.task.id, lease.token)])
    assert (await get(storage, lease.task.id)).max_retries == 2


# -- 3. complete ------------------------------------------------------------------------------
async def test_complete_from_claimed_is_one_event_with_the_start_time(storage: Storage) -> None:
    [lease] = await claimed(storage)
    mark = await storage.last_event_id()
    before = await storage.now()
    assert await storage.complete([Ack(lease.task.id, lease.token, "ok", started_ago=2.0)]) == [True]
    got = await get(storage, lease.task.id)
    assert got.status is S.COMPLETED and got.result == "ok"
    assert got.started_at is not None and got.finished_at is not None
    assert before - 2.0 - 0.5 <= got.started_at <= got.finished_at - 2.0 + 0.01
    assert [(old, kind) for old, kind, _ in await events_of(storage, mark, lease.task.id)] == [("claimed", "completed")]


@pytest.mark.parametrize(
    ("bad", "what"),
    [({1, 2}, "a set"), (float("nan"), "NaN"), (object(), "an object"), ({"k": b"bytes"}, "bytes inside")],
)
async def test_a_result_that_cannot_be_stored_fails_only_its_own_task(storage: Storage, bad: Any, what: str) -> None:
    leases = await claimed(storage, 4)
    await storage.start([Start(lz.task.id, lz.token) for lz in leases[:2]])  # two running, two claimed
    acks = [Ack(lz.task.id, lz.token, {"n": i}) for i, lz in enumerate(leases)]
    acks[1] = Ack(leases[1].task.id, leases[1].token, bad)  # a running one
    acks[2] = Ack(leases[2].task.id, leases[2].token, bad)  # a claimed one
    assert await storage.complete(acks) == [True, False, False, True], what
    for i in (0, 3):
        good = await get(storage, leases[i].task.id)
        assert (good.status, good.result) == (S.COMPLETED, {"n": i})
    for i in (1, 2):
        failed = await get(storage, leases[i].task.id)
        assert failed.status is S.FAILED and failed.result is None and failed.finished_at is not None
        assert failed.errors[-1].type == "InvalidPayload" and failed.errors[-1].message
    assert (await storage.counts())[S.FAILED] == 2


async def test_a_garbage_ack_fails_alone(storage: Storage) -> None:
    a, b = await claimed(storage, 2)
    got = await storage.complete([Ack("nope", 1, 1), Ack(a.task.id, a.token + 7, 1), Ack(b.task.id, b.token, 2)])
    assert got == [False, False, True]
    assert (await get(storage, a.task.id)).status is S.CLAIMED
    assert (await get(storage, b.task.id)).result == 2


async def test_a_claim_skips_cancelled_tasks_and_an_ack_sent_twice_counts_once(storage: Storage) -> None:
    # a claim batch with stale entries among live ones still fills its count, in order; one ack
    # repeated in a batch completes its task once and is refused the second time
    tasks = [rec() for _ in range(6)]
    await storage.enqueue(tasks)
    for i in (1, 3):
        await storage.cancel(tasks[i].id)
    leases = await storage.claim(W, ("default",), 4, 30.0, 0.0)
    assert [x.task.id for x in leases] == [tasks[i].id for i in (0, 2, 4, 5)]
    a, b = leases[0], leases[1]
    got = await storage.complete([Ack(a.task.id, a.token, 1), Ack(a.task.id, a.token, 2), Ack(b.task.id, b.token, 3)])
    assert got == [True, False, True]
    assert (await get(storage, a.task.id)).result == 1
    counts = await storage.counts()
    assert (counts[S.COMPLETED], counts[S.CLAIMED], counts[S.CANCELLED]) == (2, 2, 2)


# -- 4. fail / cancel_running from claimed ------------------------------------------------------
async def test_fail_and_cancel_running_accept_a_claimed_task(storage: Storage) -> None:
    a, b, c = await claimed(storage, 3)
    assert await storage.fail(a.task.id, a.token, err(), 60.0) is S.RETRYING
    assert await storage.fail(b.task.id, b.token, err("SkipRetry"), None) is S.FAILED
    assert await storage.cancel_running(c.task.id, c.token, err("TaskCancelled")) is True
    assert [(await get(storage, x.task.id)).status for x in (a, b, c)] == [S.RETRYING, S.FAILED, S.CANCELLED]
    assert (await get(storage, c.task.id)).errors[-1].type == "TaskCancelled"


# -- 5. release -------------------------------------------------------------------------------
async def test_release_of_a_claimed_task_puts_it_back_in_the_queue_unspent(storage: Storage) -> None:
    [lease] = await claimed(storage, priority=7)
    mark = await storage.last_event_id()
    assert await storage.release(lease.task.id, lease.token, err("Interrupted")) is True
    got = await get(storage, lease.task.id)
    assert (got.status, got.attempts, got.started_at) == (S.PENDING, 0, None)
    assert [(e.type, e.counted) for e in got.errors] == [("Interrupted", False)]
    assert await events_of(storage, mark, lease.task.id) == [("claimed", "pending", Detail.RELEASED)]
    # back in the pending order with its priority: ahead of a lower-priority task
    low = rec(priority=0)
    await storage.enqueue([low])
    [again] = await storage.claim(W, ["default"], 1, 30.0, 0.5)
    assert again.task.id == lease.task.id and again.task.attempts == 1


async def test_release_wakes_a_waiting_claim(storage: Storage) -> None:
    [lease] = await claimed(storage)

    async def later() -> None:
        await asyncio.sleep(0.2)
        await storage.release(lease.task.id, lease.token, None)

    releaser = asyncio.create_task(later())
    got = await storage.claim("worker-b", ["default"], 1, 30.0, 10.0)
    await releaser
    assert [lz.task.id for lz in got] == [lease.task.id]


async def test_release_of_a_running_task_retries_now_without_spending(storage: Storage) -> None:
    [lease] = await claimed(storage, max_retries=1)
    await storage.start([Start(lease.task.id, lease.token)])
    mark = await storage.last_event_id()
    assert await storage.release(lease.task.id, lease.token, err("Interrupted")) is True
    got = await get(storage, lease.task.id)
    assert got.status is S.RETRYING and got.attempts == 0 and got.run_at <= await storage.now()
    assert got.errors[-1].counted is False
    assert await events_of(storage, mark, lease.task.id) == [("running", "retrying", Detail.RELEASED)]


@pytest.mark.parametrize("started", [False, True])
async def test_release_of_a_task_with_a_cancel_request_ends_it_cancelled(storage: Storage, started: bool) -> None:
    [lease] = await claimed(storage)
    if started:
        await storage.start([Start(lease.task.id, lease.token)])
    assert await storage.cancel(lease.task.id) in (S.CLAIMED, S.RUNNING)
    mark = await storage.last_event_id()
    assert await storage.release(lease.task.id, lease.token, err("Interrupted")) is True
    got = await get(storage, lease.task.id)
    assert (got.status, got.attempts) == (S.CANCELLED, 0) and got.finished_at is not None
    old = "running" if started else "claimed"
    assert await events_of(storage, mark, lease.task.id) == [(old, "cancelled", Detail.CANCELLED_BY_OPERATOR)]
    # nothing is handed out again
    assert await storage.claim(W, ["default"], 1, 30.0, 0.2) == []


async def test_a_failed_attempt_of_a_task_with_a_cancel_request_is_not_retried(storage: Storage) -> None:
    [lease] = await claimed(storage, max_retries=3)
    await storage.start([Start(lease.task.id, lease.token)])
    assert await storage.cancel(lease.task.id) is S.RUNNING
    assert await storage.fail(lease.task.id, lease.token, err(), 0.0) is S.CANCELLED
    got = await get(storage, lease.task.id)
    assert got.status is S.CANCELLED and [e.type for e in got.errors] == ["ValueError"]


async def test_an_expired_lease_of_a_task_with_a_cancel_request_ends_it_cancelled(storage: Storage) -> None:
    [lease] = await claimed(storage, lease=0.2, max_retries=3)
    assert await storage.cancel(lease.task.id) is S.CLAIMED
    mark = await storage.last_event_id()
    await asyncio.sleep(0.35)
    assert await storage.recover_expired() == [lease.task.id]
    got = await get(storage, lease.task.id)
    assert got.status is S.CANCELLED and got.errors[-1].type == "LeaseExpired"
    assert await events_of(storage, mark, lease.task.id) == [("claimed", "cancelled", Detail.CANCELLED_BY_OPERATOR)]


async def test_rolling_restarts_never_eat_the_retry_budget(storage: Storage) -> None:
    [lease] = await claimed(storage, max_retries=1)
    task_id = lease.task.id
    for _ in range(4):  # four drains, more than the budget
        await storage.start([Start(task_id, lease.token)])
        assert await storage.release(task_id, lease.token, err("Interrupted")) is True
        await storage.promote_due()
        [lease] = await storage.claim(W, ["default"], 1, 30.0, 0.5)
    assert lease.task.attempts == 1  # only the current claim counts: the budget is intact
    assert await storage.fail(task_id, lease.token, err(), 0.0) is S.RETRYING
    got = await get(storage, task_id)
    assert got.attempts == 1 and [e.counted for e in got.errors] == [False] * 4 + [True]


# -- 6. heartbeat -----------------------------------------------------------------------------
async def test_heartbeat_extends_claimed_and_running_leases_alike(storage: Storage) -> None:
    a, b = await claimed(storage, 2, lease=1.0)
    await storage.start([Start(a.task.id, a.token)])
    before = await storage.now()
    reply = await storage.heartbeat(worker(held=[a.task.id, b.task.id]), {a.task.id: a.token, b.task.id: b.token}, 30.0)
    assert reply.lost == frozenset()
    await asyncio.sleep(1.3)  # past the claim's lease, inside the extended one
    assert await storage.recover_expired() == []
    [info] = [w for w in await storage.workers() if w.id == W]
    assert before - 0.5 <= info.last_seen <= await storage.now()
    assert sorted(info.held) == sorted([a.task.id, b.task.id])


async def test_heartbeat_reports_lost_leases_of_claimed_tasks(storage: Storage) -> None:
    [lease] = await claimed(storage)
    await storage.release(lease.task.id, lease.token, None)
    reply = await storage.heartbeat(worker(), {lease.task.id: lease.token}, 30.0)
    assert reply.lost == {lease.task.id}


# -- 7. recovery and poison -------------------------------------------------------------------
async def test_an_expired_claimed_lease_is_recovered_counting_the_attempt(storage: Storage) -> None:
    [lease] = await claimed(storage, lease=0.2, max_retries=2)
    mark = await storage.last_event_id()
    await asyncio.sleep(0.35)
    assert await storage.recover_expired() == [lease.task.id]
    got = await get(storage, lease.task.id)
    assert got.status is S.RETRYING and got.attempts == 1
    assert got.errors[-1].type == "LeaseExpired" and got.errors[-1].counted is True
    assert await events_of(storage, mark, lease.task.id) == [("claimed", "retrying", Detail.LEASE_EXPIRED)]
    assert await storage.start([Start(lease.task.id, lease.token)]) == [False]  # the old lease is gone


async def test_poison_counts_the_effective_budget_from_the_start_mark(storage: Storage) -> None:
    # submitted with max_retries=0, but the worker's @task policy allows 1 retry: two lost leases
    [lease] = await claimed(storage, lease=0.2, max_retries=0)
    task_id = lease.task.id
    await storage.start([Start(task_id, lease.token, 0.0, max_retries=1)])
    await asyncio.sleep(0.35)
    assert await storage.recover_expired() == [task_id]
    assert (await get(storage, task_id)).status is S.RETRYING
    await storage.promote_due()
    [lease] = await storage.claim(W, ["default"], 1, 0.2, 0.5)
    mark = await storage.last_event_id()
    await asyncio.sleep(0.35)  # lost again while still claimed
    assert await storage.recover_expired() == [task_id]
    got = await get(storage, task_id)
    assert (got.status, got.attempts, got.max_retries) == (S.FAILED, 2, 1)
    assert got.finished_at is not None
    assert await events_of(storage, mark, task_id) == [("claimed", "failed", Detail.POISON)]


# -- 8. cancel --------------------------------------------------------------------------------
async def test_cancel_of_a_claimed_task_asks_its_worker(storage: Storage) -> None:
    [lease] = await claimed(storage)
    mark = await storage.last_event_id()
    assert await storage.cancel(lease.task.id) is S.CLAIMED
    got = await get(storage, lease.task.id)
    assert got.status is S.CLAIMED and got.cancel_requested is True
    assert [kind for _, kind, _ in await events_of(storage, mark, lease.task.id)] == ["cancel_requested"]
    reply = await storage.heartbeat(worker(), {lease.task.id: lease.token}, 30.0)
    assert lease.task.id in reply.cancel
    assert await storage.cancel(lease.task.id) is S.CLAIMED  # asked once; asking again changes nothing
    assert [kind for _, kind, _ in await events_of(storage, mark, lease.task.id)] == ["cancel_requested"]


# -- 9. workers -------------------------------------------------------------------------------
async def test_a_stopped_worker_is_kept_as_history(storage: Storage) -> None:
    [lease] = await claimed(storage)
    await storage.heartbeat(worker(busy=1, claimed=1, held=[lease.task.id]), {lease.task.id: lease.token}, 30.0)
    before = await storage.now()
    await storage.remove_worker(W)
    [info] = [w for w in await storage.workers() if w.id == W]
    assert (info.state, info.busy, info.claimed, info.held) == ("stopped", 0, 0, [])
    assert info.last_seen >= before - 0.5
    inspect = Inspector(storage)
    assert [w.state for w in await inspect.workers()] == ["stopped"]
    assert await inspect.live_workers() == []
    assert (await inspect.utilization()).total == 0


async def test_a_dead_worker_shows_what_it_held_until_recovery(storage: Storage) -> None:
    inspect = Inspector(storage)
    a, b = await claimed(storage, 2, lease=1.0)
    await storage.start([Start(a.task.id, a.token)])
    held = {a.task.id: a.token, b.task.id: b.token}
    dying = worker(busy=1, claimed=1, beat_every=0.05, held=list(held))
    await storage.heartbeat(dying, held, 1.0)
    alive = worker("worker-b", concurrency=3, beat_every=30.0)
    await storage.heartbeat(alive, {}, 30.0)
    assert {w.id: w.state for w in await inspect.workers()} == {W: "running", "worker-b": "running"}
    await asyncio.sleep(stale_after(dying) + 0.3)  # no heartbeat: stale
    states = {w.id: w for w in await inspect.workers()}
    assert states[W].state == "dead" and sorted(states[W].held) == sorted(held)
    assert states["worker-b"].state == "running"
    util = await inspect.utilization()
    assert (util.workers, util.busy, util.total) == (1, 0, 3)
    holdings = await inspect.dead_holdings(states[W])
    assert sorted(r.id for r in holdings) == sorted(held)
    assert await inspect.dead_holdings(states["worker-b"]) == []
    assert sorted(await storage.recover_expired()) == sorted(held)  # its leases (1 s) are long gone
    assert await inspect.dead_holdings(states[W]) == []  # recovered: nothing waits for it any more
    assert W in {w.id for w in await inspect.workers()}  # ... and it stays in the history


async def test_the_worker_history_is_bounded(storage: Storage) -> None:
    live = worker("live", beat_every=30.0)
    await storage.heartbeat(live, {}, 30.0)
    extra = 5
    for i in range(WORKER_HISTORY_MAX + extra):
        await storage.heartbeat(worker(f"w{i:03d}"), {}, 30.0)
        await storage.remove_worker(f"w{i:03d}")
    ids = {w.id for w in await storage.workers()}
    assert "live" in ids  # a live worker is never dropped for the history's sake
    stopped = ids - {"live"}
    assert len(stopped) == WORKER_HISTORY_MAX
    assert stopped == {f"w{i:03d}" for i in range(extra, WORKER_HISTORY_MAX + extra)}  # oldest dropped


# -- 10. promote_due --------------------------------------------------------------------------
async def test_promote_due_returns_the_next_recurring_tick_when_it_is_soonest(storage: Storage) -> None:
    now = await storage.now()
    assert await storage.promote_due() is None
    await storage.enqueue([rec(status=S.SCHEDULED, delay=500.0)])
    scheduled_at = await storage.promote_due()
    assert scheduled_at is not None and now + 499.0 <= scheduled_at <= now + 501.0 + 5.0
    entry = RecurringEntry(id="tick", name="m:f", interval=100.0, next_run=now + 100.0)
    await storage.add_recurring(entry)
    assert await storage.promote_due() == pytest.approx(now + 100.0, abs=0.01)
    await storage.remove_recurring("tick")
    assert await storage.promote_due() == pytest.approx(scheduled_at)


async def test_promote_due_returns_a_sooner_retry_over_the_recurring_tick(storage: Storage) -> None:
    now = await storage.now()
    await storage.add_recurring(RecurringEntry(id="tick", name="m:f", interval=100.0, next_run=now + 100.0))
    [lease] = await claimed(storage)
    await storage.fail(lease.task.id, lease.token, err(), 30.0)
    nxt = await storage.promote_due()
    assert nxt == pytest.approx((await get(storage, lease.task.id)).run_at)


# -- 11. views --------------------------------------------------------------------------------
async def test_claimed_tasks_list_in_lease_order_and_running_ones_in_start_order(storage: Storage) -> None:
    first, second = rec(), rec()
    await storage.enqueue([first])
    [long] = await storage.claim(W, ["default"], 1, 60.0, 0.5)
    await storage.enqueue([second])
    [short] = await storage.claim(W, ["default"], 1, 20.0, 0.5)
    assert [r.id for r in await storage.list_tasks(S.CLAIMED)] == [second.id, first.id]  # soonest deadline first
    await storage.start([Start(second.id, short.token)])
    await storage.start([Start(first.id, long.token)])
    assert [r.id for r in await storage.list_tasks(S.RUNNING)] == [second.id, first.id]
    assert await storage.list_tasks(S.CLAIMED) == []


async def test_counts_and_queues_cover_claimed(storage: Storage) -> None:
    await storage.enqueue([rec(queue="q1") for _ in range(3)])
    leases = await storage.claim(W, ["q1"], 2, 30.0, 0.5)
    await storage.start([Start(leases[0].task.id, leases[0].token)])
    counts = await storage.counts("q1")
    assert (counts[S.PENDING], counts[S.CLAIMED], counts[S.RUNNING]) == (1, 1, 1)
    [info] = [q for q in await storage.queues() if q.name == "q1"]
    assert (info.counts["pending"], info.counts["claimed"], info.counts["running"]) == (1, 1, 1)
    assert [r.id for r in await storage.list_tasks(S.CLAIMED, "q1")] == [leases[1].task.id]
    assert await storage.list_tasks(S.CLAIMED, "other") == []
