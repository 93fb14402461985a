"""The scheduler: makes due scheduled/retrying tasks pending and fires recurring entries.

Any number of schedulers may run against one storage (every worker process runs one): promotion
is one atomic storage step and recurring ticks have deterministic ids, so nothing happens twice.
"""

from __future__ import annotations

import asyncio
import logging

from gdw_core.clock import Clock, SystemClock
from gdw_core.storage.protocol import Storage

log = logging.getLogger("gdw.scheduler")


class Scheduler:
    def __init__(self, storage: Storage, clock: Clock | None = None, max_sleep: float = 0.25) -> None:
        self.storage = storage
        self.clock = clock or SystemClock()
        self.max_sleep = max_sleep
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> float | None:
        """One pass; returns when the next scheduled task is due (storage time), if known."""
        await self.storage.fire_recurring()
        return await self.storage.promote_due()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                next_due = await self.tick()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler: pass failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            sleep = self.max_sleep
            if next_due is not None:
                sleep = min(sleep, max(0.0, next_due - self.clock.now()))
            await self.clock.sleep(max(sleep, 0.001))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gdw-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
