"""Uniqueness over time on every backend: ``unique_for`` returns the first task's id within its
window; ``debounce`` runs a burst once, with the latest arguments, after the last submit."""

from __future__ import annotations

import asyncio
import uuid

from gdw_core import TaskRecord, TaskStatus
from gdw_core.flow.uniqueness import digest
from gdw_core.storage.protocol import Storage

S = TaskStatus


def unique(key: str, args: list[object], **kw: object) -> TaskRecord:
    return TaskRecord(id=uuid.uuid4().hex, name="demo_tasks:fast", args=args, unique_key=key, **kw)  # type: ignore[arg-type]


async def test_a_second_submit_within_the_window_creates_nothing(storage: Storage) -> None:
    key = digest("demo_tasks:fast", [1], {}, None)
    first, second = unique(key, [1], unique_for=0.3), unique(key, [1], unique_for=0.3)
    assert await storage.enqueue([first]) == [True]
    assert await storage.enqueue([second]) == [False]
    assert await storage.unique_holder("default", key) == first.id
    assert await storage.get(second.id) is None
    await asyncio.sleep(0.4)  # the window closed: a new task
    third = unique(key, [1], unique_for=0.3)
    assert await storage.enqueue([third]) == [True]
    assert await storage.unique_holder("default", key) == third.id


async def test_a_debounced_burst_keeps_one_task_with_the_latest_arguments(storage: Storage) -> None:
    key = digest("demo_tasks:fast", [], {}, "report:7")
    burst = [unique(key, [i], debounce=0.4, status=S.SCHEDULED, delay=0.4) for i in range(3)]
    assert await storage.enqueue([burst[0]]) == [True]
    for later in burst[1:]:
        await asyncio.sleep(0.15)
        assert await storage.enqueue([later]) == [False]
    kept = await storage.get(burst[0].id)
    assert kept is not None and kept.args == [2] and kept.status is S.SCHEDULED
    now = await storage.now()
    assert kept.run_at > now + 0.2  # pushed back: 0.4 s after the last submit
    assert await storage.claim("w", ["default"], 5, 30.0, 0.05) == []
    await asyncio.sleep(0.5)
    leases = await storage.claim("w", ["default"], 5, 30.0, 0.2)
    assert [x.task.id for x in leases] == [burst[0].id] and leases[0].task.args == [2]
    # it started: the next submit of the key is a new task
    fresh = unique(key, [9], debounce=0.4, status=S.SCHEDULED, delay=0.4)
    assert await storage.enqueue([fresh]) == [True]
