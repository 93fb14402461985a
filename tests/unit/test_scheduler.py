"""The scheduler wakes for the next recurring tick: a short interval fires every tick."""

from __future__ import annotations

import asyncio
import itertools
import time

from gdw_core.queue import TaskQueue
from gdw_core.scheduler import Scheduler
from gdw_core.storage.memory import MemoryStorage


def noop() -> None:
    return None


async def test_a_50ms_interval_fires_every_tick_over_two_seconds() -> None:
    storage = MemoryStorage()
    async with TaskQueue(worker_count=0, storage=storage, run_scheduler=True, tasks=[noop]) as q:
        began = time.monotonic()
        await q.schedule_recurring(noop, interval=0.05, entry_id="fast", allow_overlap=True)
        await asyncio.sleep(2.0)
        elapsed = time.monotonic() - began
        entry = next(e for e in await storage.recurring() if e.id == "fast")
    ticks = sorted(float(t.split("@")[1]) / 1000 for t in storage._tasks if t.startswith("fast@"))
    expected = elapsed / 0.05
    assert abs(len(ticks) - expected) <= 1.5, (len(ticks), expected)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(ticks)]
    assert all(abs(g - 0.05) < 0.002 for g in gaps), gaps  # no tick skipped as "missed"
    assert entry.last_run is not None


def test_sleep_is_until_the_next_due_time_capped() -> None:
    s = Scheduler(MemoryStorage(), max_sleep=0.25)
    assert s.sleep_for(None, 100.0) == 0.25
    assert s.sleep_for(100.01, 100.0) == 0.01 or abs(s.sleep_for(100.01, 100.0) - 0.01) < 1e-9
    assert s.sleep_for(200.0, 100.0) == 0.25
    assert s.sleep_for(99.0, 100.0) == 0.001
