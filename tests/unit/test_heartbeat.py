"""A worker beats soon after it becomes busy or idle, not only every interval: what it publishes
as busy (the dashboard's busy slots) follows the task counts, instead of showing tasks running on
an idle worker, or none on a busy one, for up to a whole interval."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gdw_core import MemoryStorage, TaskQueue, TaskRegistry, TaskStatus
from gdw_core.worker import Worker
from gdw_core.worker import heartbeat as heartbeat_module

INTERVAL = 600.0  # no regular beat falls inside a test: any beat seen after the first is an early one


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` for up to 10 s (a guard against hanging, far below INTERVAL)."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


async def test_busy_is_published_when_the_worker_becomes_busy_and_again_when_it_becomes_idle() -> None:
    storage = MemoryStorage()
    gate = asyncio.Event()

    async def held() -> None:
        await gate.wait()

    async with TaskQueue(worker_count=0, storage=storage) as queue:
        queue.register(held)
        worker = Worker(storage, queue.registry, concurrency=2, lease=3 * INTERVAL, heartbeat_interval=INTERVAL)
        await worker.start()
        try:

            async def busy() -> int:
                (info,) = [w for w in await queue.inspect.workers() if w.id == worker.id]
                return info.busy

            assert await busy() == 0  # the first beat, at start
            ids = [await queue.submit(held) for _ in range(2)]

            async def two_running() -> bool:
                return (await queue.inspect.counts()).get(TaskStatus.RUNNING, 0) == 2

            await _eventually(two_running, "both tasks running")

            async def busy_two() -> bool:
                return await busy() == 2

            await _eventually(busy_two, "the worker's record to say 2 busy")
            gate.set()
            for task_id in ids:
                assert (await queue.wait(task_id, 5)).status is TaskStatus.COMPLETED

            async def idle() -> bool:
                return await busy() == 0

            await _eventually(idle, "the worker's record to say 0 busy")
        finally:
            gate.set()
            await worker.stop(5)


async def test_asks_made_while_a_beat_is_due_share_it() -> None:
    beats = 0

    class Counting(MemoryStorage):
        async def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
            nonlocal beats
            beats += 1
            return await super().heartbeat(*args, **kwargs)

    storage = Counting()
    registry = TaskRegistry()

    async def quick() -> None:
        return None

    registry.register(quick)
    worker = Worker(storage, registry, concurrency=1, lease=3 * INTERVAL, heartbeat_interval=INTERVAL)
    await worker.start()
    try:
        assert beats == 1
        hb = worker.heartbeat
        for _ in range(50):  # fifty idle/busy flips inside one SOON window
            hb.soon()
            await asyncio.sleep(0)
        await asyncio.sleep(heartbeat_module.SOON * 4)
        assert beats == 2
    finally:
        await worker.stop(5)
