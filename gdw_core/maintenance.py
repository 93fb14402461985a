"""Maintenance: returns expired leases to the queue (or fails poison tasks) and applies retention.
Every worker runs it; each pass is idempotent, so many at once are harmless."""

from __future__ import annotations

import asyncio
import logging

from gdw_core.hooks import HookSet
from gdw_core.storage.protocol import Storage

log = logging.getLogger("gdw.maintenance")


class Maintenance:
    def __init__(
        self, storage: Storage, interval: float = 1.0, purge_every: int = 30, hooks: HookSet | None = None
    ) -> None:
        self.storage = storage
        self.hooks = hooks or HookSet()
        self.interval = interval
        self.purge_every = purge_every
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, purge: bool = True) -> list[str]:
        recovered = await self.storage.recover_expired()
        if recovered:
            log.warning("recovered %d task(s) whose lease expired: %s", len(recovered), recovered[:5])
            await self.hooks.call("on_recovered", recovered)
        if purge:
            await self.storage.purge_expired()
        return recovered

    async def _run(self) -> None:
        passes = 0
        while True:
            await asyncio.sleep(self.interval)
            passes += 1
            try:
                await self.run_once(purge=passes % self.purge_every == 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("maintenance pass failed: %s", exc)
                await self.hooks.call("on_storage_error", "maintenance", exc)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gdw-maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
