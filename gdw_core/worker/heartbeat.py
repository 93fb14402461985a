"""The heartbeat: publishes the worker's record and extends every lease it holds in one round
trip; brings back lost leases, cancellations and commands.

It beats every ``interval`` seconds. It also beats early when the record it last published is
wrong about whether the worker is idle: the worker asks (:meth:`Heartbeat.soon`) when it goes
from idle to busy or back, and ``SOON`` seconds later the heartbeat beats if the record is still
wrong then (``stale``). A dashboard's busy slots then follow the task counts within about
``SOON`` seconds instead of a whole interval. A worker that stays busy never asks; one that flips
between idle and busy many times a second (one short task after another) beats early only when a
flip outlasted ``SOON``, and at most once per ``SOON``. Early beats never delay the regular one."""

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
        stale: Callable[[], bool] | None = None,
    ) -> None:
        self.storage = storage
        self.info = info
        self.lease = lease
        self.interval = interval
        self.held = held
        self.on_reply = on_reply
        self.on_storage_error = on_storage_error
        #: whether the published record is wrong enough to beat early (None: any ask beats)
        self.stale = stale
        self._asked = asyncio.Event()

    def soon(self) -> None:
        """Beat in ``SOON`` seconds if the published record is ``stale`` then (the worker became
        idle, or busy): asks made meanwhile share that check."""
        self._asked.set()

    async def _next(self, due: float) -> None:
        """Wait until ``due`` (loop time: the regular beat), or until an ask found the record
        still stale ``SOON`` seconds after it was made."""
        loop = asyncio.get_running_loop()
        while True:
            left = due - loop.time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._asked.wait(), left)
            except TimeoutError:
                return
            await asyncio.sleep(min(SOON, max(0.0, due - loop.time())))
            self._asked.clear()
            if self.stale is None or self.stale():
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
            await self._next(loop.time() + self.interval)
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
