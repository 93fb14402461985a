"""Cursor reads of a state (``Storage.list_after``), on every backend: pages by position walk the
state in ``list_tasks``' order (or its reverse), each task once, and a page stays put when tasks
before it leave the state (no skipped or repeated task, unlike offsets)."""

from __future__ import annotations

import pytest

from gdw_core import TaskStatus
from gdw_core import bulk as B
from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import Mark, Storage
from tests.contract.records import rec
from tests.contract.test_rerun_contract import failed, plant_garbage

S = TaskStatus


async def walk(
    storage: Storage, status: TaskStatus, size: int, reverse: bool = False, queue: str | None = None
) -> list[str]:
    out: list[str] = []
    after: Mark | None = None
    while True:
        page = await storage.list_after(status, queue, after, size, reverse)
        out.extend(r.id for _, r in page)
        if len(page) < size:
            return out
        after = page[-1][0]


@pytest.mark.parametrize("size", [1, 3, 50])
async def test_pages_by_position_follow_list_tasks_order_both_ways(storage: Storage, size: int) -> None:
    await storage.enqueue([rec(priority=p % 3) for p in range(7)] + [rec(queue="other") for _ in range(3)])
    await failed(storage, 5)
    for status in (S.PENDING, S.FAILED):
        expected = [r.id for r in await storage.list_tasks(status, limit=100)]
        assert await walk(storage, status, size) == expected
        assert await walk(storage, status, size, reverse=True) == expected[::-1]
    assert await walk(storage, S.PENDING, size, queue="other") == [
        r.id for r in await storage.list_tasks(S.PENDING, "other", limit=100)
    ]


async def test_a_page_stays_put_when_tasks_before_it_leave(storage: Storage) -> None:
    ids = await failed(storage, 9)
    first = await storage.list_after(S.FAILED, None, None, 3)
    order = [r.id for r in await storage.list_tasks(S.FAILED, limit=100)]
    assert [r.id for _, r in first] == order[:3]
    for _, r in first:  # the first page leaves the state (re-run)
        assert (await storage.act_on(B.Action.RETRY, r.id)).done
    nxt = await storage.list_after(S.FAILED, None, first[-1][0], 3)
    assert [r.id for _, r in nxt] == order[3:6]  # an offset of 3 would now skip these
    assert sorted(ids) == sorted(order)


async def test_an_unreadable_record_in_the_walk_is_shown_alone(storage: Storage) -> None:
    await failed(storage, 2)
    bad = await plant_garbage(storage, S.FAILED)
    got = await walk(storage, S.FAILED, 1)
    if isinstance(storage, MemoryStorage):  # an id pointing nowhere: not shown
        assert bad not in got and len(got) == 2
    else:  # a key that is not a task hash: shown as unreadable, in its place
        assert bad in got and len(got) == 3


@pytest.mark.parametrize("size", [1, 2, 4])
async def test_tasks_sharing_one_score_are_each_met_once(storage: Storage, size: int) -> None:
    at = await storage.now() + 3600.0
    same = [rec(status=S.SCHEDULED, run_at=at) for _ in range(7)]
    await storage.enqueue(same)
    forward = await walk(storage, S.SCHEDULED, size)
    assert sorted(forward) == sorted(r.id for r in same) and len(set(forward)) == 7
    assert forward == sorted(forward)  # ties are ordered by id
    assert await walk(storage, S.SCHEDULED, size, reverse=True) == forward[::-1]
