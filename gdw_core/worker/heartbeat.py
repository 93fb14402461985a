"""The heartbeat: publishes the worker's record and extends every lease it holds in one round
trip; brings back lost leases, cancellations and commands.

It beats every ``interval`` seconds, and also soon after the worker goes from idle to busy or
from busy to idle (:meth:`Heartbeat.soon`): what a dashboard shows as the worker's busy slots then
follows the task counts within ``SOON`` seconds instead of up to a whole interval. A worker that
stays busy never asks, and the asks of a worker that flips between idle and busy are merged: at
most one extra beat per ``SOON`` seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from gdw_core.storage.protocol import HeartbeatReply, Storage
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.worker")

#: seconds from an ask (:meth:`Heartbeat.soon`) to its beat: the asks made meanwhile share it, and
#: the outcomes of the tasks that just ended are sent by then (they go out on the next loop turns)
SOON = 0.05


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
        self._asked = asyncio.Event()

    def soon(self) -> None:
        """Beat within ``SOON`` seconds (the worker became idle, or busy): asks made before that
        beat are answered by it."""
        self._asked.set()

    async def _next(self) -> None:
        """Wait for the interval, or for an ask and then ``SOON`` seconds."""
        try:
            await asyncio.wait_for(self._asked.wait(), self.interval)
        except TimeoutError:
            return
        await asyncio.sleep(SOON)

    async def beat(self) -> None:
        held = dict(self.held())
        self.info.held = list(held)
        reply = await self.storage.heartbeat(self.info, held, self.lease)
        await self.on_reply(reply)

    async def run(self) -> None:
        failures = 0
        while True:
            await self._next()
            self._asked.clear()
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
