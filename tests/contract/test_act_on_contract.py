"""One bulk action on one task by id (``Storage.act_on``) and a selection of ids
(``gdw_core.bulk.run_ids``), on every backend: the same rules as a bulk walk's step, each task
re-checked alone; a vanished or unreadable task is skipped with its reason, the rest proceed."""

from __future__ import annotations

import pytest

from gdw_core import TaskStatus
from gdw_core import bulk as B
from gdw_core.control import Controller
from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import Storage
from tests.contract.records import rec
from tests.contract.test_rerun_contract import failed, get, plant_garbage

S = TaskStatus


async def test_act_on_follows_the_bulk_rules_for_each_state(storage: Storage) -> None:
    [f] = await failed(storage)
    waiting = rec()
    await storage.enqueue([waiting])
    assert await storage.act_on(B.Action.RETRY, f) == B.Item(f, True, "rerun")
    assert (await get(storage, f)).status is S.PENDING
    assert await storage.act_on(B.Action.PURGE, waiting.id) == B.Item(waiting.id, False, "it is pending")
    assert await storage.act_on(B.Action.CANCEL, waiting.id) == B.Item(waiting.id, True, "cancelled")
    assert await storage.act_on(B.Action.CANCEL, waiting.id) == B.Item(waiting.id, False, "it is cancelled")
    assert await storage.act_on(B.Action.PURGE, waiting.id) == B.Item(waiting.id, True, "purged")
    assert await storage.get(waiting.id) is None
    assert await storage.act_on(B.Action.RETRY, waiting.id) == B.Item(waiting.id, False, "gone")
    assert (await storage.counts())[S.CANCELLED] == 0


async def test_a_selection_with_a_vanished_and_a_garbage_task_acts_on_the_rest(storage: Storage) -> None:
    ids = await failed(storage, 5)
    bad = await plant_garbage(storage, S.FAILED)
    summary = await Controller(storage).bulk_ids(B.Action.RETRY, [ids[0], "no-such-task", bad, *ids[1:]], batch=2)
    assert summary.done == 5
    reasons = dict(summary.skipped)
    assert reasons.pop("gone") == (2 if isinstance(storage, MemoryStorage) else 1)
    if not isinstance(storage, MemoryStorage):
        assert reasons == {"unreadable record: a string key": 1}
    assert [(await get(storage, i)).status for i in ids] == [S.PENDING] * 5


@pytest.mark.parametrize("batch", [1, 3])
async def test_progress_is_told_after_each_bounded_batch(storage: Storage, batch: int) -> None:
    ids = await failed(storage, 4)
    seen: list[int] = []
    summary = await B.run_ids(storage, B.Action.PURGE, ids + ids, lambda s: seen.append(s.total), batch)
    assert summary.done == 4 and not summary.skipped  # a repeated id is acted on once
    assert seen == [*range(batch, 4, batch), 4]
