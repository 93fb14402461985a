"""The heartbeat: publishes the worker's record and extends every lease it holds in one round
trip; brings back lost leases, cancellations and commands.

It beats every ``interval`` seconds, and early when the record it last published has gone wrong
(``stale``: the worker's busy or claimed count changed, and held since the previous look). It
looks every ``SOON`` seconds, so a dashboard's busy slots follow the task counts within one or two
looks instead of a whole interval. A look compares a few numbers on a timer; a task pays nothing
for it. Early beats come at most once per ``SOON``; two beats are never more than ``interval``
apart; while the storage fails only the regular beats try it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from gdw_core.storage.protocol import HeartbeatReply, Storage
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.worker")

#: seconds between two looks at whether the published record is stale (and so at least between
#: two early beats); the outcomes of tasks that just ended are sent within it (they go out on the
#: next loop turns), so an early beat finds the task counts already moved
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
        stale: Callable[[], bool] | None = None,
    ) -> None:
        self.storage = storage
        self.info = info
        self.lease = lease
        self.interval = interval
        self.held = held
        self.on_reply = on_reply
        self.on_storage_error = on_storage_error
        #: whether the published record is wrong enough to beat early (None: never)
        self.stale = stale

    async def _next(self, due: float, early: bool) -> None:
        """Wait until ``due`` (loop time: the regular beat), or (``early``) until the record is
        stale."""
        loop = asyncio.get_running_loop()
        stale = self.stale if early else None
        while True:
            left = due - loop.time()
            if left <= 0:
                return
            if stale is None:
                await asyncio.sleep(left)
                return
            await asyncio.sleep(min(SOON, left))
            if stale():
                return

    async def beat(self) -> None:
        held = dict(self.held())
        self.info.held = list(held)
        reply = await self.storage.heartbeat(self.info, held, self.lease)
        await self.on_reply(reply)

    async def run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            # (while the storage fails, only the regular beats try it again)
            await self._next(loop.time() + self.interval, early=not failures)
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
