"""The heartbeat: publishes the worker's record and extends every lease it holds in one round
trip; brings back lost leases, cancellations and commands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from gdw_core.storage.protocol import HeartbeatReply, Storage
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.worker")


class Heartbeat:
    def __init__(
        self,
        storage: Storage,
        info: WorkerInfo,
        lease: float,
        interval: float,
        held: Callable[[], Mapping[str, int]],
        on_reply: Callable[[HeartbeatReply], Awaitable[None]],
        on_storage_error: Callable[[str, BaseException], Awaitable[None]],
    ) -> None:
        self.storage = storage
        self.info = info
        self.lease = lease
        self.interval = interval
        self.held = held
        self.on_reply = on_reply
        self.on_storage_error = on_storage_error

    async def beat(self) -> None:
        held = dict(self.held())
        self.info.held = list(held)
        reply = await self.storage.heartbeat(self.info, held, self.lease)
        await self.on_reply(reply)

    async def run(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
                if failures:
                    log.warning("worker %s: storage reachable again", self.info.id)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("worker %s: heartbeat failed (%s)", self.info.id, exc)
                await self.on_storage_error("heartbeat", exc)
