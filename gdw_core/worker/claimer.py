"""Claiming: keeps a local buffer filled with ``claimed`` tasks (free slots + prefetch)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
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
        # claimed tasks not started yet, oldest first; slots waiting for one (a deque and futures
        # rather than an asyncio.Queue: a slot takes a buffered task without a coroutine call)
        self.buffer: deque[Lease] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.buffered: dict[str, Lease] = {}  # what is in the buffer, for the heartbeat
        self.dropped: set[str] = set()  # buffered ids already settled: never start them
        self.room = asyncio.Event()
        self.wants_room = False  # run() waits for ``room``: a slot that frees one sets it
        self.active = True
        #: weighted queues (gdw_core.flow.weights); None: strict order
        self.order = WeightedOrder(weights) if weights else None

    def room_left(self) -> int:
        return self.capacity - self.running() - len(self.buffer)

    def _put(self, leases: list[Lease]) -> int:
        """Buffer a claim's leases; a slot waiting in :meth:`next` is woken for each. Returns how
        many slots were woken."""
        buffered = self.buffered
        for lease in leases:
            buffered[lease.task.id] = lease
        self.buffer.extend(leases)
        woken = min(len(leases), len(self._waiters))
        for _ in range(woken):
            self._wake_one()
        return woken

    def next_nowait(self) -> Lease | None:
        """The next buffered task a slot should start (settled ones are skipped), or None when the
        buffer is empty (then ``await next()``)."""
        buffer = self.buffer
        while buffer:
            lease = buffer.popleft()
            task_id = lease.task.id
            self.buffered.pop(task_id, None)
            if task_id in self.dropped:
                self.dropped.discard(task_id)
                self.room.set()
                continue
            return lease
        return None

    async def next(self) -> Lease:
        """The next buffered task a slot should start (settled ones are skipped)."""
        while True:
            lease = self.next_nowait()
            if lease is not None:
                return lease
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                if waiter.done() and not waiter.cancelled() and self.buffer:
                    self._wake_one()  # it was woken for a lease it will not take: pass it on
                raise

    def _wake_one(self) -> None:
        """Wake one slot waiting in :meth:`next`."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def take_all(self) -> list[Lease]:
        """Empty the buffer (a drain): what was claimed and never started."""
        out: list[Lease] = []
        while self.buffer:
            lease = self.buffer.popleft()
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
        # A queue whose claim raises (its keys hold garbage) costs only its share: the others are
        # claimed, and what was claimed is never dropped for a later call's error.
        leases: list[Lease] = []
        error: Exception | None = None
        for queue, share in self.order.shares(room).items():
            if share:
                try:
                    leases += await self.storage.claim(self.worker_id, [queue], share, self.lease, 0.0)
                except Exception as exc:
                    error = exc
        left = room - len(leases)
        if left > 0:
            wait = 0.0 if leases else self.wait
            try:
                leases += await self.storage.claim(self.worker_id, self.queues, left, self.lease, wait)
            except Exception as exc:
                error = exc
        if error is not None and not leases:
            raise error
        if error is not None:
            log.debug("worker %s: a queue's claim failed (%s); the others were claimed", self.worker_id, error)
        return leases

    async def run(self) -> None:
        backoff = 0.05
        while self.active:
            room = self.room_left()
            if room <= 0:
                self.room.clear()
                self.wants_room = True
                try:
                    await self.room.wait()
                finally:
                    self.wants_room = False
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
            if self._put(leases):
                # idle slots were woken: they start their tasks before the next claim is sent (its
                # send is a system call, and on Redis it would be paid before the task starts)
                await asyncio.sleep(0)
