"""A worker beats soon after it becomes busy or idle, not only every interval: what it publishes
as busy (the dashboard's busy slots) follows the task counts, instead of showing tasks running on
an idle worker, or none on a busy one, for up to a whole interval."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gdw_core import MemoryStorage, TaskQueue, TaskStatus
from gdw_core.worker import Worker
from gdw_core.worker import heartbeat as heartbeat_module
from gdw_core.worker.heartbeat import Heartbeat
from gdw_core.workerinfo import WorkerInfo

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
            task_id = await queue.submit(held)

            async def busy_one() -> bool:
                return await busy() == 1

            await _eventually(busy_one, "the worker's record to say 1 busy")
            assert (await queue.inspect.counts()).get(TaskStatus.RUNNING, 0) == 1
            gate.set()
            assert (await queue.wait(task_id, 5)).status is TaskStatus.COMPLETED

            async def idle() -> bool:
                return await busy() == 0

            await _eventually(idle, "the worker's record to say 0 busy")
        finally:
            gate.set()
            await worker.stop(5)


class _Counting(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.beats = 0

    async def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        self.beats += 1
        return await super().heartbeat(*args, **kwargs)


def _heartbeat(storage: MemoryStorage, interval: float, stale: Callable[[], bool]) -> Heartbeat:
    async def nothing(*_: Any) -> None:
        return None

    info = WorkerInfo(id="w", host="h", pid=1, queues=["default"], concurrency=1)
    return Heartbeat(storage, info, 3 * interval, interval, dict, nothing, nothing, stale)


async def test_asks_made_while_an_early_beat_is_due_share_it() -> None:
    storage = _Counting()
    hb = _heartbeat(storage, INTERVAL, lambda: True)
    loop = asyncio.create_task(hb.run())
    try:
        for _ in range(50):  # fifty idle/busy flips inside one SOON window
            hb.soon()
            await asyncio.sleep(0)
        await asyncio.sleep(heartbeat_module.SOON * 4)
        assert storage.beats == 1
    finally:
        loop.cancel()


async def test_an_ask_is_dropped_when_the_record_is_right_by_then_and_never_delays_the_regular_beat() -> None:
    storage = _Counting()
    hb = _heartbeat(storage, 0.3, lambda: False)  # the record always right: no early beat
    began = asyncio.get_running_loop().time()
    loop = asyncio.create_task(hb.run())
    try:
        for _ in range(100):  # an ask every 10 ms for about a second
            hb.soon()
            await asyncio.sleep(0.01)
        elapsed = asyncio.get_running_loop().time() - began
        # the regular beats kept their schedule (0.3 s apart) through the asks; none came early
        assert 2 <= storage.beats <= elapsed / 0.3 + 1
    finally:
        loop.cancel()
