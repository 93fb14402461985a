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
    #: how often the offset between the storage's clock and ours is measured again, seconds
    SYNC_EVERY = 5.0

    def __init__(self, storage: Storage, clock: Clock | None = None, max_sleep: float = 0.25) -> None:
        self.storage = storage
        self.clock = clock or SystemClock()
        self.max_sleep = max_sleep
        self._task: asyncio.Task[None] | None = None
        self._offset = 0.0  # storage clock - our clock
        self._synced_at: float | None = None

    async def _storage_now(self) -> float:
        """The storage's "now", estimated from our clock and a periodically measured offset (so a
        host whose clock is off neither spins nor oversleeps, without a round trip per tick)."""
        mine = self.clock.now()
        if self._synced_at is None or mine - self._synced_at >= self.SYNC_EVERY:
            self._offset = await self.storage.now() - self.clock.now()
            self._synced_at = mine
        return mine + self._offset

    def sleep_for(self, next_due: float | None, now: float) -> float:
        """Until ``next_due`` (a scheduled task or the next recurring tick, storage time), capped at
        ``max_sleep``; at least 1 ms."""
        if next_due is None:
            return self.max_sleep
        return max(0.001, min(self.max_sleep, next_due - now))

    async def tick(self) -> float | None:
        """One pass; returns when the next scheduled task or recurring tick is due (storage time)."""
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
            try:
                now = await self._storage_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler: reading the storage clock failed (%s)", exc)
                now = self.clock.now() + self._offset
            await self.clock.sleep(self.sleep_for(next_due, now))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gdw-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
