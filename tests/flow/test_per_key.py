"""Per-key limits: one definition ``customer`` (2 at once) gives every ``customer:<id>`` its own
two slots. 50 customers with interleaved tasks: no customer ever runs more than 2, and the queue
as a whole runs many at once (a throttled customer blocks nobody else)."""

from __future__ import annotations

import asyncio
from collections import Counter

from gdw_core import TaskQueue


async def test_two_per_customer_over_fifty_customers() -> None:
    running: Counter[str] = Counter()
    most: Counter[str] = Counter()
    peak = 0

    async def job(customer: str) -> None:
        nonlocal peak
        running[customer] += 1
        most[customer] = max(most[customer], running[customer])
        peak = max(peak, sum(running.values()))
        await asyncio.sleep(0.02)
        running[customer] -= 1

    q = TaskQueue(worker_count=120, queue_size=None, tasks=[job])
    await q.limits.set("customer", concurrency=2)
    ids = []
    for _ in range(4):  # interleaved: customer 0..49, then again
        for c in range(50):
            ids.append(await q.options(limits=[f"customer:{c}"]).submit(job, f"c{c}"))
    async with q:
        for task_id in ids:
            await q.wait(task_id, timeout=30)
    assert max(most.values()) == 2 and len(most) == 50
    assert peak >= 60  # far more than one customer's 2: the others kept flowing
