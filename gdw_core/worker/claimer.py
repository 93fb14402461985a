"""Claiming: keeps a local buffer filled with ``claimed`` tasks (free slots + prefetch)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from gdw_core.flow.weights import WeightedOrder
from gdw_core.storage.protocol import Lease, Storage

log = logging.getLogger("gdw.worker")


class Claimer:
    def __init__(
        self,
        storage: Storage,
        worker_id: str,
        queues: Sequence[str],
        capacity: int,
        lease: float,
        wait: float,
        running: Callable[[], int],
        on_storage_error: Callable[[str, BaseException], Awaitable[None]],
        weights: dict[str, int] | None = None,
    ) -> None:
        self.storage = storage
        self.worker_id = worker_id
        self.queues = list(queues)
        self.capacity = capacity
        self.lease = lease
        self.wait = wait
        self.running = running
        self.on_storage_error = on_storage_error
        self.buffer: asyncio.Queue[Lease] = asyncio.Queue()
        self.buffered: dict[str, Lease] = {}  # what is in the buffer, for the heartbeat
        self.dropped: set[str] = set()  # buffered ids already settled: never start them
        self.room = asyncio.Event()
        self.active = True
        #: weighted queues (gdw_core.flow.weights); None: strict order
        self.order = WeightedOrder(weights) if weights else None

    def room_left(self) -> int:
        return self.capacity - self.running() - self.buffer.qsize()

    async def next(self) -> Lease:
        """The next buffered task a slot should start (settled ones are skipped)."""
        while True:
            lease = await self.buffer.get()
            self.buffered.pop(lease.task.id, None)
            if lease.task.id in self.dropped:
                self.dropped.discard(lease.task.id)
                self.room.set()
                continue
            return lease

    def take_all(self) -> list[Lease]:
        """Empty the buffer (a drain): what was claimed and never started."""
        out: list[Lease] = []
        while not self.buffer.empty():
            lease = self.buffer.get_nowait()
            self.buffered.pop(lease.task.id, None)
            if lease.task.id not in self.dropped:
                out.append(lease)
            self.dropped.discard(lease.task.id)
        return out

    async def _claim(self, room: int) -> list[Lease]:
        if self.order is None:
            return await self.storage.claim(self.worker_id, self.queues, room, self.lease, self.wait)
        # weighted: each queue first gets its share of the room, then what is left goes to any
        # queue (an empty queue's share is not wasted); only a round that finds nothing waits
        leases: list[Lease] = []
        for queue, share in self.order.shares(room).items():
            if share:
                leases += await self.storage.claim(self.worker_id, [queue], share, self.lease, 0.0)
        left = room - len(leases)
        if left > 0:
            wait = 0.0 if leases else self.wait
            leases += await self.storage.claim(self.worker_id, self.queues, left, self.lease, wait)
        return leases

    async def run(self) -> None:
        backoff = 0.05
        while self.active:
            room = self.room_left()
            if room <= 0:
                self.room.clear()
                await self.room.wait()
                continue
            try:
                leases = await self._claim(room)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage outage: say so, back off, keep going
                log.warning("worker %s: claim failed (%s); retrying in %.2fs", self.worker_id, exc, backoff)
                await self.on_storage_error("claim", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for lease in leases:
                self.buffered[lease.task.id] = lease
                self.buffer.put_nowait(lease)
