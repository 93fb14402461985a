"""Fan-in on every backend: a blocked node becomes pending exactly once, when its parents are
satisfied, with what it takes from them; a failed parent cancels it naming the parent; a re-run
of that parent revives it; bad graphs are refused with nothing stored."""

from __future__ import annotations

import asyncio

import pytest

from gdw_core import DuplicateTask, TaskStatus
from gdw_core.lifecycle import Detail
from gdw_core.storage.protocol import Ack, Storage
from gdw_core.workflow import UnknownDependency, WorkflowError
from tests.workflow.nodes import S, W, claim, fail, get, node, run, status


async def test_chain_of_five_passes_each_result_as_the_first_argument(storage: Storage) -> None:
    a = node(args=[1])
    rest = [a]
    for i in range(4):
        rest.append(node(rest[-1].id, takes="one", feeds=1, args=[f"x{i}"]))
    await storage.enqueue_workflow(rest)
    assert [await status(storage, r.id) for r in rest] == [S.PENDING] + [S.BLOCKED] * 4
    value = 1
    for i, r in enumerate(rest):
        lease = await claim(storage, r.id)
        if i:  # the previous result first, then its own arguments
            assert lease.task.args == [value, f"x{i - 1}"]
        value = value * 10 + i
        assert await storage.complete([Ack(r.id, lease.token, value)]) == [True]
        if i + 1 < len(rest):
            assert await status(storage, rest[i + 1].id) is S.PENDING
    assert (await get(storage, rest[-1].id)).result == value


async def test_chord_callback_gets_the_member_results_in_member_order(storage: Storage) -> None:
    members = [node() for _ in range(6)]
    cb = node(*[m.id for m in members], takes="list", feeds=6, args=["tail"])
    await storage.enqueue_workflow([*members, cb])
    for i, m in reversed(list(enumerate(members))):  # finish in the reverse order
        assert await status(storage, cb.id) is S.BLOCKED
        await run(storage, m.id, {"member": i})
    lease = await claim(storage, cb.id)
    assert lease.task.args == [[{"member": i} for i in range(6)], "tail"]
    got = await get(storage, cb.id)
    assert got.parents == [m.id for m in members]
    assert (await get(storage, members[0].id)).children == [cb.id]


async def test_a_callback_with_no_arguments_and_a_null_result(storage: Storage) -> None:
    a = node()
    b = node(a.id, takes="one", feeds=1)
    await storage.enqueue_workflow([a, b])
    await run(storage, a.id, None)
    assert (await claim(storage, b.id)).task.args == [None]


async def test_depends_on_a_stored_task_waits_and_passes_nothing(storage: Storage) -> None:
    first = node()
    await storage.enqueue_workflow([first])
    after = node(first.id, args=[7])
    await storage.enqueue_workflow([after])
    assert await status(storage, after.id) is S.BLOCKED
    await run(storage, first.id, "ignored")
    assert (await claim(storage, after.id)).task.args == [7]


async def test_depends_on_a_completed_task_is_pending_at_once(storage: Storage) -> None:
    first = node()
    await storage.enqueue_workflow([first])
    await run(storage, first.id, 1)
    after = node(first.id)
    await storage.enqueue_workflow([after])
    assert await status(storage, after.id) is S.PENDING


async def test_failure_cancels_dependents_naming_the_parent_and_a_rerun_revives_them(storage: Storage) -> None:
    a = node()
    b = node(a.id, takes="one", feeds=1)
    c = node(b.id, takes="one", feeds=1)
    await storage.enqueue_workflow([a, b, c])
    await fail(storage, a.id)
    rb, rc = await get(storage, b.id), await get(storage, c.id)
    assert (rb.status, rb.cancelled_by) == (S.CANCELLED, a.id)
    assert (rc.status, rc.cancelled_by) == (S.CANCELLED, b.id)
    details = {e.task_id: e.detail for e in await storage.read_events("0", 1000) if e.kind == "cancelled"}
    assert details[b.id] == Detail.PARENT_FAILED + a.id
    assert details[c.id] == Detail.PARENT_CANCELLED + b.id
    item = await storage.rerun(a.id)
    assert item.done
    assert [await status(storage, i) for i in (a.id, b.id, c.id)] == [S.PENDING, S.BLOCKED, S.BLOCKED]
    await run(storage, a.id, 5)
    lease = await claim(storage, b.id)
    assert lease.task.args == [5]
    assert await storage.complete([Ack(b.id, lease.token, 6)]) == [True]
    await run(storage, c.id, 7)
    assert (await get(storage, c.id)).result == 7


async def test_run_anyway_on_parent_failure(storage: Storage) -> None:
    a, ok = node(), node()
    cb = node(a.id, ok.id, takes="list", feeds=2, on_parent_failure="run")
    await storage.enqueue_workflow([a, ok, cb])
    await fail(storage, a.id)
    assert await status(storage, cb.id) is S.BLOCKED
    await run(storage, ok.id, 2)
    assert (await claim(storage, cb.id)).task.args == [[None, 2]]


async def test_cancelling_a_parent_cancels_the_blocked_child(storage: Storage) -> None:
    a = node()
    b = node(a.id)
    await storage.enqueue_workflow([a, b])
    assert await storage.cancel(a.id) is S.CANCELLED
    got = await get(storage, b.id)
    assert (got.status, got.cancelled_by) == (S.CANCELLED, a.id)


async def test_an_operator_can_cancel_a_blocked_task(storage: Storage) -> None:
    a = node()
    b = node(a.id)
    await storage.enqueue_workflow([a, b])
    assert await storage.cancel(b.id) is S.CANCELLED
    await run(storage, a.id, 1)
    assert await status(storage, b.id) is S.CANCELLED


async def test_a_stale_ack_after_a_lease_loss_does_not_release_twice(storage: Storage) -> None:
    m1, m2 = node(), node()
    cb = node(m1.id, m2.id, takes="list", feeds=2)
    await storage.enqueue_workflow([m1, m2, cb])
    [lost] = await storage.claim(W, ["default"], 1, 0.05, 0.5)  # m1: the first pending
    assert lost.task.id == m1.id
    await asyncio.sleep(0.1)  # its worker froze past the lease: recovered, claimed by another
    assert await storage.recover_expired() == [m1.id]
    now = await claim(storage, m1.id)
    assert await storage.complete([Ack(m1.id, now.token, "new")]) == [True]
    assert await storage.complete([Ack(m1.id, lost.token, "stale")]) == [False]
    assert await storage.complete([Ack(m1.id, now.token, "again")]) == [False]
    assert await status(storage, cb.id) is S.BLOCKED
    await run(storage, m2.id, "two")
    assert (await claim(storage, cb.id)).task.args == [["new", "two"]]
    pending = [e for e in await storage.read_events("0", 1000) if e.task_id == cb.id and e.kind == "pending"]
    assert len(pending) == 1


async def test_unknown_dependency_stores_nothing(storage: Storage) -> None:
    a = node()
    b = node(a.id, "no-such-task")
    with pytest.raises(UnknownDependency, match="no-such-task"):
        await storage.enqueue_workflow([a, b])
    assert await storage.get(a.id) is None
    assert await storage.get(b.id) is None


async def test_an_existing_id_stores_nothing(storage: Storage) -> None:
    a = node()
    await storage.enqueue_workflow([a])
    b = node()
    with pytest.raises(DuplicateTask):
        await storage.enqueue_workflow([b, node(id=a.id)])
    assert await storage.get(b.id) is None


async def test_blocked_is_counted(storage: Storage) -> None:
    a = node()
    await storage.enqueue_workflow([a, node(a.id), node(a.id)])
    counts = await storage.counts("default")
    assert (counts[S.PENDING], counts[S.BLOCKED]) == (1, 2)
    listed = await storage.list_tasks(S.BLOCKED, "default")
    assert len(listed) == 2


async def test_a_workflow_across_queues_is_atomic_where_it_can_be(storage: Storage) -> None:
    a = node(queue="wf-one")
    b = node(a.id, takes="one", feeds=1, queue="wf-two")
    if getattr(storage, "cluster", False):  # each queue is its own slot: refused, nothing stored
        with pytest.raises(WorkflowError, match="spans queues"):
            await storage.enqueue_workflow([a, b])
        assert await storage.get(a.id) is None and await storage.get(b.id) is None
        return
    await storage.enqueue_workflow([a, b])
    assert await status(storage, b.id) is S.BLOCKED
    await run(storage, a.id, "from one", queue="wf-one")
    assert (await claim(storage, b.id, queue="wf-two")).task.args == ["from one"]
    assert (await storage.counts("wf-two"))[S.BLOCKED] == 0


async def test_a_parent_that_dies_as_poison_cancels_its_child(storage: Storage) -> None:
    a = node(max_retries=0)
    b = node(a.id)
    await storage.enqueue_workflow([a, b])
    await storage.claim(W, ["default"], 1, 0.05, 0.5)
    await asyncio.sleep(0.1)  # the lease runs out (the worker "died")
    assert await storage.recover_expired() == [a.id]
    assert await status(storage, a.id) is S.FAILED
    got = await get(storage, b.id)
    assert (got.status, got.cancelled_by) == (S.CANCELLED, a.id)


async def test_bulk_cancel_of_blocked_tasks_cascades(storage: Storage) -> None:
    from gdw_core import bulk as B

    a = node()
    b = node(a.id)
    c = node(b.id)
    await storage.enqueue_workflow([a, b, c])
    flt = B.Filter(TaskStatus.BLOCKED)
    flt.check(B.Action.CANCEL)
    batch = await storage.bulk(B.Action.CANCEL, flt, "default", B.Cursor(), 1)
    assert [i.task_id for i in batch.items if i.done] == [b.id] or [i.task_id for i in batch.items if i.done] == [c.id]
    while batch.next is not None:
        batch = await storage.bulk(B.Action.CANCEL, flt, "default", batch.next, 1)
    assert await status(storage, b.id) is S.CANCELLED and await status(storage, c.id) is S.CANCELLED
    assert await status(storage, a.id) is S.PENDING


async def test_members_finishing_at_the_same_instant_release_the_callback_once(storage: Storage) -> None:
    members = [node() for _ in range(50)]
    cb = node(*[m.id for m in members], takes="list", feeds=50)
    await storage.enqueue_workflow([*members, cb])
    leases = []
    while len(leases) < 50:
        leases += await storage.claim(W, ["default"], 50, 30.0, 0.5)
    results = await asyncio.gather(*(storage.complete([Ack(x.task.id, x.token, x.task.id)]) for x in leases))
    assert results == [[True]] * 50
    lease = await claim(storage, cb.id)
    assert lease.task.args == [[m.id for m in members]]
    pending = [e for e in await storage.read_events("0", 10_000) if e.task_id == cb.id and e.kind == "pending"]
    assert len(pending) == 1


async def test_an_id_twice_in_one_workflow_stores_nothing(storage: Storage) -> None:
    a = node()
    with pytest.raises(WorkflowError, match="twice"):
        await storage.enqueue_workflow([a, node(a.id), node(id=a.id)])
    assert await storage.get(a.id) is None
