"""Adversarial: a workflow child whose stored record is garbage never costs its parent's ack (or
the other acks of the batch): the parent completes, the garbage child fails or is settled alone."""

from __future__ import annotations

from gdw_core.storage.protocol import Ack
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer
from tests.workflow.nodes import S, claim, get, node, status


async def test_garbage_children_do_not_stop_the_batch(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        a, b = node(), node()
        bad_counter = node(a.id)
        not_a_hash = node(a.id)
        fine = node(a.id, b.id, takes="list", feeds=2)
        await s.enqueue_workflow([a, b, bad_counter, not_a_hash, fine])
        prefix = s.keys.prefix("default")
        await s.client.hset(prefix + "t:" + bad_counter.id, "wait", "garbage")
        await s.client.delete(prefix + "t:" + not_a_hash.id)
        await s.client.set(prefix + "t:" + not_a_hash.id, "not a hash")
        la, lb = await claim(s, a.id), await claim(s, b.id)
        assert await s.complete([Ack(a.id, la.token, 1), Ack(b.id, lb.token, 2)]) == [True, True]
        assert await status(s, a.id) is S.COMPLETED and await status(s, b.id) is S.COMPLETED
        assert await status(s, bad_counter.id) is S.PENDING  # its parents were counted afresh
        assert (await claim(s, fine.id)).task.args == [[1, 2]]
        assert (await get(s, not_a_hash.id)).name == "?"  # shown as unreadable, alone
    finally:
        await s.close()


async def test_a_child_whose_index_is_garbage_waits_and_is_released_by_the_repair(redis_server: RedisServer) -> None:
    """The queue's pending index is overwritten by hand while a parent runs: the parent's
    completion lands (its child cannot be released into that index, and is not touched: its
    counter stays), nothing of the child is lost, and gdw repair moves the key aside and settles
    the blocked child: it is pending and claimable with its parent's result."""
    from gdw_core import repair as R

    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        a = node()
        child = node(a.id, takes="one", feeds=1)
        await s.enqueue_workflow([a, child])
        la = await claim(s, a.id)
        pending = s.keys.index("default", "pending")
        redis_server.cli("set", pending, "garbage")
        for _ in range(2):  # (sent again, as a worker does: the same answer)
            assert await s.complete([Ack(a.id, la.token, 7)]) in ([True], [False])
        assert await status(s, a.id) is S.COMPLETED
        assert await status(s, child.id) is S.BLOCKED
        report = await R.run(s, ["default"])
        assert not report.failed_queues and [m.status for q in report.queues for m in q.moved_aside] == [S.PENDING]
        assert await status(s, child.id) is S.PENDING
        assert (await claim(s, child.id)).task.args == [7]
    finally:
        await s.close()


async def test_a_child_that_cannot_be_cancelled_into_a_garbage_index_is_settled_by_the_repair(
    redis_server: RedisServer,
) -> None:
    """The parent fails while the queue's cancelled index is a string: the failure lands, the
    child stays blocked (untouched), and gdw repair cancels it as its parent's failure says."""
    from gdw_core import repair as R
    from gdw_core.record import AttemptError

    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        a = node()
        child = node(a.id)
        await s.enqueue_workflow([a, child])
        la = await claim(s, a.id)
        redis_server.cli("set", s.keys.index("default", "cancelled"), "garbage")
        assert await s.fail(a.id, la.token, AttemptError(1, "E", "m", "", 0.0), None) is S.FAILED
        assert await status(s, child.id) is S.BLOCKED
        await R.run(s, ["default"])
        assert await status(s, child.id) is S.CANCELLED
    finally:
        await s.close()


async def test_a_parent_failed_by_repair_settles_its_blocked_children(redis_server: RedisServer) -> None:
    """A workflow step whose status became garbage holds its children blocked for good (nothing
    finishes it); gdw repair --fail-unreadable fails it and its blocked children count their
    parents afresh at once: the one that runs on a parent's failure is released, the other
    cancelled; a child of another parent that has not finished stays blocked. The children live in
    another queue, which that repair does not walk."""
    from gdw_core import repair as R

    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        a, other = node(), node()
        # (in another queue: the repair of a's queue never walks them, only a's fan-out finds them)
        cancelled = node(a.id, queue="kids")
        runs_anyway = node(a.id, queue="kids", on_parent_failure="run")
        waits = node(a.id, other.id, queue="kids", on_parent_failure="run")
        await s.enqueue_workflow([a, other, cancelled, runs_anyway, waits])
        redis_server.cli("hset", s.keys.task("default", a.id), "st", "limbo")

        report = await R.run(s, ["default"], fail_unreadable=True)

        assert [g.task_id for q in report.queues for g in q.failed] == [a.id]
        assert await status(s, a.id) is S.FAILED
        assert await status(s, cancelled.id) is S.CANCELLED
        assert await status(s, runs_anyway.id) is S.PENDING
        assert await status(s, waits.id) is S.BLOCKED  # `other` has not finished
    finally:
        await s.close()
