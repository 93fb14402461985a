"""Eight worker processes share ten thousand tasks (15): each completes exactly once by the
execution log (no fault here, so no task may even start twice)."""

from __future__ import annotations

import time

from tests.faults.checker import check
from tests.faults.conftest import Scene

WORK = "tests.faults.fault_tasks:work"
TASKS = 10_000
WORKERS = 8


async def test_eight_workers_ten_thousand_tasks_each_exactly_once(scene: Scene) -> None:
    for _ in range(WORKERS):
        scene.workers.spawn(concurrency=10)
    await scene.workers_registered(WORKERS, timeout=60)
    t0 = time.monotonic()
    ids: list[str] = []
    for _ in range(TASKS // 2000):
        ids += await scene.producer.submit_many(WORK, [(0.0,) for _ in range(2000)])
        await scene.tail.catch_up()  # the event stream is capped: read it as it grows
    await scene.all_terminal(240)
    took = time.monotonic() - t0
    out = await check(scene.storage, ids, scene.log_dir, scene.tail, once=True)
    by_pid: dict[int, int] = {}
    for x in out.executions:
        if x.phase == "done":
            by_pid[x.pid] = by_pid.get(x.pid, 0) + 1
    assert len(by_pid) == WORKERS, f"every worker took part: {by_pid}"
    assert sum(by_pid.values()) == TASKS
    print(f"{WORKERS} workers x {TASKS} tasks in {took:.1f}s; per worker {sorted(by_pid.values())}")
