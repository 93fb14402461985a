"""A worker beats early when the record it published has the wrong busy count, not only every
interval: what it publishes as busy (the dashboard's busy slots) follows the task counts, instead
of showing tasks running on an idle worker, or fewer or more than run, for up to a whole
interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from gdw_core import MemoryStorage, TaskQueue, TaskRegistry, TaskStatus
from gdw_core.worker import Worker
from gdw_core.worker import heartbeat as heartbeat_module
from gdw_core.worker.heartbeat import Heartbeat
from gdw_core.worker.utilization import Utilization
from gdw_core.workerinfo import WorkerInfo

INTERVAL = 600.0  # no regular beat falls inside a test: any beat seen after the first is an early one


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` for up to 10 s (a guard against hanging, far below INTERVAL)."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


async def test_the_published_busy_count_follows_each_change_within_a_beat_not_an_interval() -> None:
    storage = MemoryStorage()
    gates = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def held(gate: str) -> None:
        await gates[gate].wait()

    async with TaskQueue(worker_count=0, storage=storage) as queue:
        queue.register(held)
        worker = Worker(storage, queue.registry, concurrency=3, lease=3 * INTERVAL, heartbeat_interval=INTERVAL)
        await worker.start()
        try:

            def busy_is(n: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    (info,) = [w for w in await queue.inspect.workers() if w.id == worker.id]
                    return info.busy == n

                return check

            assert await busy_is(0)()  # the first beat, at start
            first = await queue.submit(held, "a")
            second = await queue.submit(held, "b")
            await _eventually(busy_is(2), "the worker's record to say 2 busy")
            assert (await queue.inspect.counts()).get(TaskStatus.RUNNING, 0) == 2
            gates["a"].set()
            assert (await queue.wait(first, 5)).status is TaskStatus.COMPLETED
            await _eventually(busy_is(1), "the worker's record to say 1 busy")
            gates["b"].set()
            assert (await queue.wait(second, 5)).status is TaskStatus.COMPLETED
            await _eventually(busy_is(0), "the worker's record to say 0 busy")
        finally:
            for gate in gates.values():
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


async def _beats_in(storage: _Counting, interval: float, stale: bool, seconds: float) -> tuple[int, float]:
    """Run a heartbeat on ``storage`` for ``seconds``: how many beats it sent, in how long."""
    hb = _heartbeat(storage, interval, lambda: stale)
    loop = asyncio.get_running_loop()
    began = loop.time()
    task = asyncio.create_task(hb.run())
    try:
        await asyncio.sleep(seconds)
        return storage.beats, loop.time() - began
    finally:
        task.cancel()


async def test_a_record_always_stale_gets_at_most_one_early_beat_per_look() -> None:
    beats, elapsed = await _beats_in(_Counting(), INTERVAL, True, 0.5)
    assert 2 <= beats <= elapsed / heartbeat_module.SOON + 1


async def test_a_record_that_is_right_gets_only_the_regular_beats() -> None:
    beats, elapsed = await _beats_in(_Counting(), 0.3, False, 1.0)
    assert 2 <= beats <= elapsed / 0.3 + 1  # 0.3 s apart: none early, none skipped


async def test_while_the_storage_fails_a_stale_record_waits_for_the_regular_beat() -> None:
    class Down(_Counting):
        async def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
            self.beats += 1
            raise ConnectionError("storage down")

    beats, elapsed = await _beats_in(Down(), 0.3, True, 1.0)
    # the first try came early (the record was stale); after it failed, only every 0.3 s
    assert 2 <= beats <= elapsed / 0.3 + 2


def test_an_early_beat_publishes_the_last_utilization_and_leaves_its_window_open() -> None:
    u = Utilization(1)
    assert u.sample() == 0.0  # a regular beat: idle so far
    u.begin(time.monotonic())
    time.sleep(0.1)
    assert u.sample(at_least=60.0) == 0.0  # an early beat: the last figure again, nothing reset
    u.end(time.monotonic())
    time.sleep(0.1)
    # the next regular beat covers the busy and the idle stretch: about half
    assert 0.3 < u.sample() < 0.7


def test_a_count_must_hold_for_a_whole_look_before_it_is_published_early() -> None:
    worker = Worker(MemoryStorage(), TaskRegistry(), concurrency=2)
    running: dict[str, Any] = worker._running  # (what the slots add and remove)
    looks = []
    for change in ("", "+a", "", "", "-a", "", "", "+b", "-b", "", ""):
        if change.startswith("+"):
            running[change[1:]] = SimpleNamespace(lease=SimpleNamespace(token=1))
        elif change.startswith("-"):
            del running[change[1:]]
        else:
            stale = worker._stale()
            looks.append(stale)
            if stale:
                worker._held()  # the early beat publishes the counts
    # published 0; a starts (seen once: not yet); a still runs a look later: beat (busy 1);
    # a ended (seen once); still ended a look later: beat (busy 0); b came and went between
    # two looks: never published
    assert looks == [False, False, True, False, True, False, False]
    assert worker.info.busy == 0
