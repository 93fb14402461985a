"""Re-runs and bulk actions, on every backend (the ``storage`` fixture): a failed or cancelled task
re-runs under its id with its history and a fresh budget; bulk actions walk a state in bounded
batches, act on each match once, and skip a garbage record alone with its reason."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from gdw_core import AttemptError, TaskRecord, TaskStatus
from gdw_core import bulk as B
from gdw_core.control import Controller
from gdw_core.errors import TaskNotFound
from gdw_core.lifecycle import Detail
from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import Lease, Storage
from tests.contract.records import W, rec

S = TaskStatus


def err(attempt: int) -> AttemptError:
    return AttemptError(attempt, "ValueError", "boom", "Traceback ...", 0.0, W)


async def claim_all(storage: Storage, n: int, queue: str = "default") -> list[Lease]:
    got: list[Lease] = []
    while len(got) < n:
        more = await storage.claim(W, [queue], n - len(got), 30.0, 0.5)
        assert more, f"only {len(got)} of {n} claimed"
        got.extend(more)
    return got


async def failed(storage: Storage, n: int = 1, queue: str = "default", **kw: Any) -> list[str]:
    records = [rec(queue=queue, **kw) for _ in range(n)]
    await storage.enqueue(records)
    for lease in await claim_all(storage, n, queue):
        assert await storage.fail(lease.task.id, lease.token, err(lease.task.attempts), None) is S.FAILED
    return [r.id for r in records]


async def get(storage: Storage, task_id: str) -> TaskRecord:
    got = await storage.get(task_id)
    assert got is not None
    return got


async def plant_garbage(storage: Storage, state: TaskStatus, queue: str = "default") -> str:
    """An id in ``state``'s index whose record cannot be read (Redis: a string key where the task
    hash should be; memory: its index entry points at a record of another queue's id space)."""
    task_id = "garbage-" + uuid.uuid4().hex[:8]
    if isinstance(storage, MemoryStorage):
        storage._index[state][task_id] = None  # an id pointing nowhere
        return task_id
    from gdw_core.lifecycle import INDEX
    from gdw_core.storage.redis import RedisStorage

    assert isinstance(storage, RedisStorage)
    prefix = storage.keys.prefix(queue)
    await storage.client.set(prefix + "t:" + task_id, "not a hash")
    await storage.client.zadd(prefix + INDEX[state], {task_id: await storage.now()})
    return task_id


# -- one task ---------------------------------------------------------------------------------
async def test_a_failed_task_reruns_under_its_id_with_its_history_and_a_fresh_budget(storage: Storage) -> None:
    [task_id] = await failed(storage, max_retries=0)
    before = await get(storage, task_id)
    assert (before.attempts, len(before.errors)) == (1, 1)
    mark = await storage.last_event_id()
    item = await Controller(storage).retry(task_id)
    assert (item.done, item.reason) == (True, "rerun")
    after = await get(storage, task_id)
    assert after.status is S.PENDING and after.attempts == 0 and after.finished_at is None
    assert [e.message for e in after.errors] == ["boom"]  # the history is kept
    events = [(e.old, e.kind, e.detail) for e in await storage.read_events(mark, 50) if e.task_id == task_id]
    assert events == [("failed", "pending", Detail.RERUN)]
    # a fresh budget: with max_retries=0 it gets one more attempt, counted from 1 again
    [lease] = await claim_all(storage, 1)
    assert lease.task.id == task_id and lease.task.attempts == 1
    assert await storage.fail(task_id, lease.token, err(1), None) is S.FAILED
    assert len((await get(storage, task_id)).errors) == 2


async def test_a_cancelled_task_reruns(storage: Storage) -> None:
    r = rec()
    await storage.enqueue([r])
    assert await storage.cancel(r.id) is S.CANCELLED
    assert (await storage.rerun(r.id)).reason == "rerun"
    [lease] = await claim_all(storage, 1)
    assert lease.task.id == r.id


async def test_a_delayed_task_is_made_due_and_other_states_are_refused_with_the_reason(storage: Storage) -> None:
    later, ready = rec(delay=3600.0, status=S.SCHEDULED), rec()
    await storage.enqueue([later, ready])
    assert await storage.rerun(later.id) == B.Item(later.id, True, "due now")
    assert (await get(storage, later.id)).status is S.PENDING
    refused = await storage.rerun(ready.id)
    assert (refused.done, refused.reason) == (False, "it is pending")
    with pytest.raises(TaskNotFound):
        await storage.rerun("no-such-task")


async def test_a_completed_task_is_not_rerun(storage: Storage) -> None:
    from gdw_core.storage.protocol import Ack

    await storage.enqueue([rec(id="done-1")])
    [lease] = await claim_all(storage, 1)
    assert await storage.complete([Ack("done-1", lease.token, 5)]) == [True]
    item = await storage.rerun("done-1")
    assert (item.done, item.reason) == (False, "it is completed")
    assert (await get(storage, "done-1")).result == 5


# -- bulk ---------------------------------------------------------------------------------------
async def test_bulk_retry_by_name_and_queue_in_bounded_batches(storage: Storage) -> None:
    mine = await failed(storage, 23, name="demo_tasks:flaky")
    other_name = await failed(storage, 4, name="demo_tasks:failing")
    other_queue = await failed(storage, 3, queue="other", name="demo_tasks:flaky")
    sizes: list[int] = []
    seen: list[int] = []

    async def progress(summary: B.Summary) -> None:
        seen.append(summary.done)

    class Counting:  # the storage, recording each step's size
        def __getattr__(self, name: str) -> Any:
            return getattr(storage, name)

        async def bulk(self, *args: Any) -> B.Batch:
            step = await storage.bulk(*args)
            sizes.append(len(step.items))
            return step

    flt = B.Filter(S.FAILED, queue="default", name="demo_tasks:flaky")
    summary = await B.run(Counting(), B.Action.RETRY, flt, progress, batch=5)  # type: ignore[arg-type]
    assert (summary.done, dict(summary.skipped)) == (23, {})
    assert max(sizes) <= 5 and sum(sizes) == 23 and seen[-1] == 23 and seen == sorted(seen)
    assert {(await get(storage, i)).status for i in mine} == {S.PENDING}
    assert {(await get(storage, i)).status for i in other_name + other_queue} == {S.FAILED}


async def test_a_task_that_fails_again_during_the_walk_is_not_rerun_twice(storage: Storage) -> None:
    ids = await failed(storage, 30)

    async def drain(summary: B.Summary) -> None:  # a worker re-runs them (and they fail) meanwhile
        leases = await storage.claim(W, ["default"], 100, 30.0, 0.0)
        for lease in leases:
            await storage.fail(lease.task.id, lease.token, err(lease.task.attempts), None)

    mark = await storage.last_event_id()
    summary = await B.run(storage, B.Action.RETRY, B.Filter(S.FAILED), drain, batch=4)
    assert summary.done == 30
    reruns = Counter(e.task_id for e in await storage.read_events(mark, 5000) if e.detail == Detail.RERUN)
    assert reruns == Counter(dict.fromkeys(ids, 1))


async def test_dry_run_counts_and_changes_nothing_and_no_match_is_zero(storage: Storage) -> None:
    await failed(storage, 12)
    summary = await B.run(storage, B.Action.COUNT, B.Filter(S.FAILED), batch=5)
    assert summary.done == 12
    assert (await storage.counts())[S.FAILED] == 12
    none = await B.run(storage, B.Action.RETRY, B.Filter(S.FAILED, name="nobody:here"))
    assert none.total == 0


async def test_bulk_cancel_of_pending_tasks_in_one_queue(storage: Storage) -> None:
    await storage.enqueue([rec(queue="q1") for _ in range(9)] + [rec(queue="q2") for _ in range(2)])
    summary = await B.run(storage, B.Action.CANCEL, B.Filter(S.PENDING, queue="q1"), batch=4)
    assert summary.done == 9
    assert (await storage.counts("q1"))[S.CANCELLED] == 9
    assert (await storage.counts("q2"))[S.PENDING] == 2


async def test_bulk_purge_keeps_what_is_newer_than_the_cutoff(storage: Storage) -> None:
    old = await failed(storage, 6)
    cutoff = await storage.now()
    young = await failed(storage, 2)
    summary = await B.run(storage, B.Action.PURGE, B.Filter(S.FAILED, before=cutoff), batch=4)
    assert summary.done == 6
    assert [await storage.get(i) for i in old] == [None] * 6
    assert {(await get(storage, i)).status for i in young} == {S.FAILED}
    since = await B.run(storage, B.Action.COUNT, B.Filter(S.FAILED, since=cutoff))
    assert since.done == 2


async def test_a_garbage_record_in_a_batch_is_skipped_alone_with_its_reason(storage: Storage) -> None:
    ids = await failed(storage, 7)
    bad = await plant_garbage(storage, S.FAILED)
    ids += await failed(storage, 3)
    summary = await B.run(storage, B.Action.RETRY, B.Filter(S.FAILED), batch=4)
    assert summary.done == 10
    assert {(await get(storage, i)).status for i in ids} == {S.PENDING}
    if not isinstance(storage, MemoryStorage):  # memory: an id pointing nowhere is simply gone
        assert sum(summary.skipped.values()) == 1
        (reason,) = summary.skipped
        assert "unreadable" in reason, reason
    assert bad


def test_purge_and_retry_refuse_states_they_cannot_act_on() -> None:
    with pytest.raises(B.BulkError, match="purge does not act on pending"):
        B.Filter(S.PENDING).check(B.Action.PURGE)
    with pytest.raises(B.BulkError, match="retry does not act on completed"):
        B.Filter(S.COMPLETED).check(B.Action.RETRY)


async def test_the_operators_retry_now_reruns_a_failed_task(storage: Storage) -> None:
    [task_id] = await failed(storage)
    assert await Controller(storage).retry_now(task_id) is True
    assert (await get(storage, task_id)).status is S.PENDING
    assert await storage.retry_now(task_id) is False  # the storage's own retry_now stays strict


async def test_one_queue_whose_walk_fails_does_not_stop_the_others(storage: Storage) -> None:
    await failed(storage, 3, queue="q-bad")
    good = await failed(storage, 4, queue="q-good")

    class OneQueueBroken:
        def __getattr__(self, name: str) -> Any:
            return getattr(storage, name)

        async def bulk(self, action: B.Action, flt: B.Filter, queue: str, *rest: Any) -> B.Batch:
            if queue == "q-bad":
                raise ConnectionError("the shard went away")
            return await storage.bulk(action, flt, queue, *rest)

    summary = await B.run(OneQueueBroken(), B.Action.RETRY, B.Filter(S.FAILED))  # type: ignore[arg-type]
    assert summary.done == 4 and summary.failed_queues == {"q-bad": "ConnectionError: the shard went away"}
    assert {(await get(storage, i)).status for i in good} == {S.PENDING}


async def test_an_embedded_queue_reruns_a_failed_task_with_a_fresh_budget() -> None:
    from gdw_core import RetryPolicy, TaskQueue

    runs: list[int] = []

    async def breaks() -> None:
        runs.append(1)
        raise ValueError("still broken")

    async with TaskQueue(worker_count=1, retry_policy=RetryPolicy(max_retries=1, base_delay=0.01)) as q:
        task_id = await q.submit(breaks)
        first = await q.wait(task_id, 10)
        assert (first.status, first.attempts, len(runs)) == (S.FAILED, 2, 2)
        assert await q.rerun(task_id) is True
        again = await q.wait(task_id, 10)  # pending again, so this waits for the re-run's end
        assert (again.status, again.attempts, len(runs)) == (S.FAILED, 2, 4)  # the whole budget again
        assert [e.message for e in again.errors] == ["still broken"] * 4  # history kept
        with pytest.raises(TaskNotFound):
            await q.rerun("no-such")
