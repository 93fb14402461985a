"""Lifecycle points the shared contract cannot reach in wall time or through a remote protocol,
checked on the memory backend with a manual clock: the worker history's age bound, staleness on
the storage's clock, and garbage items in batches (unhashable ids) failing alone."""

from __future__ import annotations

import uuid
from typing import Any

from gdw_core import ManualClock, MemoryStorage, TaskRecord, TaskStatus
from gdw_core.inspect import Inspector
from gdw_core.lifecycle import WORKER_HISTORY_SECONDS, stale_after
from gdw_core.storage.protocol import Ack, Start
from gdw_core.workerinfo import WorkerInfo

S = TaskStatus


def worker(worker_id: str, **kw: Any) -> WorkerInfo:
    return WorkerInfo(worker_id, "host", 1, ["default"], 2, **kw)


async def test_history_older_than_its_horizon_is_dropped() -> None:
    clock = ManualClock()
    storage = MemoryStorage(clock=clock)
    await storage.heartbeat(worker("old"), {}, 30.0)
    await storage.remove_worker("old")
    await storage.heartbeat(worker("crashed"), {}, 30.0)  # never says goodbye
    clock.advance(WORKER_HISTORY_SECONDS - 10)
    await storage.heartbeat(worker("recent"), {}, 30.0)
    await storage.remove_worker("recent")
    assert {w.id for w in await storage.workers()} == {"old", "crashed", "recent"}
    clock.advance(20)
    assert {w.id for w in await storage.workers()} == {"recent"}


async def test_staleness_is_judged_on_the_storages_clock() -> None:
    clock = ManualClock()
    storage = MemoryStorage(clock=clock)
    info = worker("w", beat_every=1.0)
    await storage.heartbeat(info, {}, 30.0)
    inspect = Inspector(storage)
    clock.advance(stale_after(info) - 0.01)
    assert [w.state for w in await inspect.workers()] == ["running"]
    clock.advance(0.02)
    assert [w.state for w in await inspect.workers()] == ["dead"]
    assert (await inspect.utilization()).workers == 0
    await storage.heartbeat(info, {}, 30.0)  # it came back
    assert [w.state for w in await inspect.workers()] == ["running"]


async def test_the_stored_worker_record_is_a_copy() -> None:
    storage = MemoryStorage(clock=ManualClock())
    info = worker("w", busy=1)
    await storage.heartbeat(info, {}, 30.0)
    info.busy = 2
    info.held.append("later")
    [stored] = await storage.workers()
    assert (stored.busy, stored.held) == (1, [])
    await storage.remove_worker("w")
    assert info.state == "running"  # the worker's own object is not touched


async def test_garbage_ids_in_batches_fail_alone() -> None:
    storage = MemoryStorage(clock=ManualClock())
    records = [TaskRecord(id=uuid.uuid4().hex, name="m:f") for _ in range(2)]
    await storage.enqueue(records)
    a, b = await storage.claim("w", ["default"], 2, 30.0, 0.0)
    bad: Any = ["not", "an", "id"]
    assert await storage.start([Start(bad, 1), Start(a.task.id, a.token)]) == [False, True]
    assert await storage.complete([Ack(bad, 1, None), Ack(a.task.id, a.token, 1), Ack(b.task.id, b.token, 2)]) == [
        False,
        True,
        True,
    ]
    odd: Any = ("a", "tuple")
    reply = await storage.heartbeat(worker("w"), {odd: 1, "gone": 3}, 30.0)
    assert reply.lost == {odd, "gone"}
    assert [(await storage.get(r.id)).status for r in records] == [S.COMPLETED, S.COMPLETED]  # type: ignore[union-attr]


async def test_a_result_nested_too_deep_to_encode_fails_its_task() -> None:
    storage = MemoryStorage(clock=ManualClock())
    records = [TaskRecord(id=uuid.uuid4().hex, name="m:f") for _ in range(2)]
    await storage.enqueue(records)
    a, b = await storage.claim("w", ["default"], 2, 30.0, 0.0)
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert await storage.complete([Ack(a.task.id, a.token, deep), Ack(b.task.id, b.token, "ok")]) == [False, True]
    failed = await storage.get(a.task.id)
    assert failed is not None and failed.status is S.FAILED and failed.errors[-1].type == "InvalidPayload"


async def test_only_live_workers_offer_task_names_and_slots() -> None:
    clock = ManualClock()
    storage = MemoryStorage(clock=clock)
    inspect = Inspector(storage)
    await storage.heartbeat(worker("gone", tasks=["m:old"], busy=2, beat_every=1.0), {}, 30.0)
    clock.advance(60.0)  # "gone" is dead from here on
    await storage.heartbeat(worker("here", tasks=["m:new"], busy=1, claimed=3), {}, 30.0)
    await storage.heartbeat(worker("bye", tasks=["m:bye"]), {}, 30.0)
    await storage.remove_worker("bye")
    assert await inspect.registered_names() == ["m:new"]
    assert [w.id for w in await inspect.live_workers()] == ["here"]
    util = await inspect.utilization()
    assert (util.workers, util.busy, util.total, util.claimed) == (1, 1, 2, 3)
    assert {w.id: w.state for w in await inspect.workers()} == {"gone": "dead", "here": "running", "bye": "stopped"}


async def test_dead_holdings_reads_a_bounded_number_of_records() -> None:
    clock = ManualClock()
    storage = MemoryStorage(clock=clock)
    records = [TaskRecord(id=f"t{i}", name="m:f") for i in range(5)]
    await storage.enqueue(records)
    leases = await storage.claim("w", ["default"], 5, 600.0, 0.0)
    held = {lz.task.id: lz.token for lz in leases}
    await storage.heartbeat(worker("w", held=list(held)), held, 600.0)
    inspect = Inspector(storage)
    [alive] = await inspect.workers()
    assert await inspect.dead_holdings(alive) == []  # not dead: nothing to show
    clock.advance(60.0)
    [dead] = await inspect.workers()
    assert [r.id for r in await inspect.dead_holdings(dead, limit=3)] == ["t0", "t1", "t2"]
    assert len(await inspect.dead_holdings(dead)) == 5


async def test_a_garbage_start_mark_changes_nothing_and_fails_alone() -> None:
    storage = MemoryStorage(clock=ManualClock())
    records = [TaskRecord(id=f"t{i}", name="m:f", max_retries=2) for i in range(2)]
    await storage.enqueue(records)
    a, b = await storage.claim("w", ["default"], 2, 30.0, 0.0)
    junk: Any = "soon"
    marks = [Start(a.task.id, a.token, 1.0, max_retries=junk), Start(b.task.id, b.token, 0.0, max_retries=4)]
    assert await storage.start(marks) == [False, True]
    untouched = await storage.get("t0")
    assert untouched is not None and (untouched.status, untouched.started_at, untouched.max_retries) == (
        S.CLAIMED,
        None,
        2,
    )
    assert (await storage.get("t1")).max_retries == 4  # type: ignore[union-attr]
