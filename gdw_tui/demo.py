"""``gdw-tui --demo``: an embedded queue (memory storage) running the demo tasks, a second worker
sharing its storage (so there is one to shut down on its own), a steady mixed workload and one
recurring entry. Nothing here is special to the dashboard: it reads it like any other queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from gdw_core import GdwError, TaskQueue

log = logging.getLogger(__name__)


def demo_queues() -> tuple[TaskQueue, TaskQueue]:
    import demo_tasks

    main = TaskQueue(worker_count=8, queue_size=None, buffer_size=0, tasks=[demo_tasks])
    peer = TaskQueue(
        worker_count=4, queue_size=None, buffer_size=0, storage=main.storage, tasks=[demo_tasks], run_scheduler=False
    )
    return main, peer


@dataclass
class DemoWorkload:
    """Starts and stops the demo: the peer worker, the load generator, a recurring heartbeat."""

    queue: TaskQueue
    peer: TaskQueue | None = None
    rate: float = 6.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self) -> None:
        from demo_tasks import load, runtime

        runtime.bind(self.queue)
        await self.queue.start()
        if self.peer is not None:
            await self.peer.start()
        with contextlib.suppress(GdwError):
            await self.queue.schedule_recurring("demo_tasks:heartbeat", interval=10.0, entry_id="demo-heartbeat")
        self._tasks.append(asyncio.create_task(self._generate(load.generate), name="gdw-demo-load"))

    async def _generate(self, generate: Any) -> None:
        try:
            await generate(self.queue, self.rate, self._stop)
        except GdwError as exc:  # the queue was shut down from the dashboard
            log.info("demo workload stopped: %s", exc)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 2.0)
        for q in (self.peer, self.queue):
            if q is not None:
                await q.shutdown(timeout=1.0)
