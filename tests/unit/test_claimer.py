"""The worker's claimer hands a claim's tasks to idle slots before it sends the next claim: a task
that arrives at an idle worker starts first (on Redis the next claim's send is a system call and a
script, paid before the task started)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gdw_core import MemoryStorage, TaskQueue, TaskStatus
from gdw_core.storage.protocol import Lease

ORDER: list[str] = []


class RecordingStorage(MemoryStorage):
    """Memory storage that notes each claim call as it is made."""

    async def claim(self, worker_id: str, queues: Sequence[str], count: int, lease: float, wait: float) -> list[Lease]:
        ORDER.append("claim")
        return await super().claim(worker_id, queues, count, lease, wait)


async def noted() -> None:
    ORDER.append("run")


async def test_an_idle_slot_starts_its_task_before_the_next_claim_is_sent() -> None:
    ORDER.clear()
    async with TaskQueue(worker_count=2, storage=RecordingStorage()) as queue:
        queue.register(noted)
        await asyncio.sleep(0.05)  # the worker is idle: its claim waits for work, its slots for tasks
        assert ORDER and set(ORDER) == {"claim"}
        ORDER.clear()
        task_id = await queue.submit(noted)
        await queue.wait(task_id, 5)
        # the waiting claim returned the task; the slot ran it before the claimer asked again
        assert ORDER[:2] == ["run", "claim"]


async def test_a_busy_worker_still_fills_its_buffer_while_its_slot_runs() -> None:
    # its one slot is busy: the claimer goes on claiming into the buffer (no slot to hand a task to)
    ORDER.clear()
    gate = asyncio.Event()

    async def held() -> None:
        await gate.wait()

    async with TaskQueue(worker_count=1, buffer_size=2, storage=RecordingStorage()) as queue:
        queue.register(held)
        ids = [await queue.submit(held) for _ in range(3)]
        await asyncio.sleep(0.05)
        counts = await queue.inspect.counts()
        assert counts[TaskStatus.RUNNING] == 1 and counts[TaskStatus.CLAIMED] == 2  # one runs, two wait in the buffer
        gate.set()
        for task_id in ids:
            await queue.wait(task_id, 5)
