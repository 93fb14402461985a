"""The memory backend's retention: each finished state keeps its newest ``*_count`` records (the
oldest by when they entered it go first, a task re-run and finished again counting as new), and
``purge_expired`` drops those finished longer ago than the TTL, oldest first, stopping at the first
younger one. The index of a finished state is an OrderedDict so that finding its oldest entry
costs the same however many were dropped before (docs/performance.md, 2026-12-07)."""

from __future__ import annotations

import pytest

from gdw_core import ManualClock, MemoryStorage, Retention, TaskNotFound, TaskQueue, TaskRecord
from gdw_core.record import AttemptError
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Ack

S = TaskStatus


def rec(task_id: str) -> TaskRecord:
    return TaskRecord(id=task_id, name="m:f")


async def finish(s: MemoryStorage, ids: list[str], failed: bool = False) -> None:
    leases = await s.claim("w", ["default"], len(ids), 30.0, 0.0)
    assert sorted(x.task.id for x in leases) == sorted(ids)
    for x in leases:
        if failed:
            error = AttemptError(x.task.attempts, "E", "boom", "", s.clock.now())
            assert await s.fail(x.task.id, x.token, error, None) is S.FAILED
        else:
            assert await s.complete([Ack(x.task.id, x.token, x.task.id)]) == [True]


async def kept(s: MemoryStorage, ids: list[str]) -> list[str]:
    return [i for i in ids if await s.get(i) is not None]


async def test_each_finished_state_keeps_its_newest_and_a_rerun_counts_as_new() -> None:
    clock = ManualClock()
    s = MemoryStorage(clock=clock, retention=Retention(completed_count=3, failed_count=2))
    for i in range(250):  # many trims: the oldest is found again after each of them
        await s.enqueue([rec(f"c{i}")])
        await finish(s, [f"c{i}"])
    assert await kept(s, [f"c{i}" for i in range(250)]) == ["c247", "c248", "c249"]
    assert (await s.counts())[S.COMPLETED] == 3

    await s.enqueue([rec("x"), rec("y")])
    await finish(s, ["x"], failed=True)
    await finish(s, ["y"], failed=True)
    assert (await s.rerun("x")).done  # x leaves the failed index ...
    await finish(s, ["x"], failed=True)  # ... and enters it again, after y
    await s.enqueue([rec("z")])
    await finish(s, ["z"], failed=True)
    assert await kept(s, ["x", "y", "z"]) == ["x", "z"]  # y was the oldest there
    assert (await s.counts())[S.FAILED] == 2


async def test_the_ttl_drops_the_oldest_and_stops_at_the_first_younger_one() -> None:
    clock = ManualClock()
    s = MemoryStorage(clock=clock, retention=Retention(completed_ttl=10.0))
    for i in range(5):
        await s.enqueue([rec(f"t{i}")])
        await finish(s, [f"t{i}"])
        clock.advance(3.0)  # finished at 0, 3, 6, 9, 12; now 15
    assert await s.purge_expired() == 2  # finished at 0 and 3: more than 10 s ago
    assert await kept(s, [f"t{i}" for i in range(5)]) == ["t2", "t3", "t4"]
    clock.advance(100.0)
    assert await s.purge_expired() == 3
    assert (await s.counts())[S.COMPLETED] == 0


async def test_a_result_deleted_by_retention_says_that_may_be_why() -> None:
    async def square(x: int) -> int:
        return x * x

    storage = MemoryStorage(retention=Retention(completed_count=5))
    async with TaskQueue(worker_count=4, storage=storage, tasks=[square]) as q:
        ids = [await q.submit(square, i) for i in range(40)]
        assert await q.result(ids[-1], timeout=10) == 39 * 39
        with pytest.raises(TaskNotFound, match="retention has deleted its record"):
            await q.result(ids[0], timeout=10)
