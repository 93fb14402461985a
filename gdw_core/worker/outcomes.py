"""Recording outcomes: start marks, acks, failures, cancellations and releases.

Modelled on asynq's syncer: nothing is silently dropped. Every write is retried with backoff until
its task's lease deadline (the heartbeat keeps that lease alive meanwhile: :meth:`held`); a write
the storage refuses for one item (stale token, unreadable record) is dropped with a log line and
never blocks the others; after the deadline an unsent outcome is abandoned with a log line (its
lease then expires and the task is recovered: at-least-once). An outcome the storage could not
write because its queue's own keys refuse it (a start mark or completion answered None, a failure,
cancellation or release raising QueueRefused: an index of the wrong type, reported in the worker's
heartbeat) is kept with a fresh deadline each time, so a task that ended is not run again while an
operator repairs the queue.

Marks and acks go together in one pipelined pass (``start`` and ``complete`` concurrently); a task
that finishes before its mark was sent drops the mark and acks with ``started_ago`` (unless the mark
carries a retry budget the record does not have yet: then the mark is sent first). Failures,
cancellations and releases are sent after the marks of the same pass, so a task's mark always
lands before its other outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gdw_core.errors import QueueRefused
from gdw_core.record import AttemptError
from gdw_core.storage.protocol import Ack, Lease, Start, Storage

log = logging.getLogger("gdw.worker")


# A queued start mark, by task id: (token, started (time.monotonic()), max_retries); given up
# `lease` seconds after it started. A queued ack: (task id, token, result, started, deadline).
# Plain tuples, as one of each is queued per task: a tuple is built ~25 times faster than a
# dataclass instance, and a task that finishes before its mark is sent never needs more.
_Mark = tuple[int, float, int | None]
_Ack = tuple[str, int, Any, float, float]


class _NotWritten(Exception):
    """Some outcomes of a pass were not written (kept, sent again after a backoff)."""


@dataclass(slots=True)
class _Op:
    kind: str  # "fail" | "cancel" | "release"
    task_id: str
    token: int
    error: AttemptError | None
    delay: float | None
    deadline: float


class OutcomeWriter:
    def __init__(
        self,
        storage: Storage,
        worker_id: str,
        lease: float,
        on_storage_error: Callable[[str, BaseException], Awaitable[None]] | None = None,
    ) -> None:
        self.storage = storage
        self.worker_id = worker_id
        self.lease = lease
        self.on_storage_error = on_storage_error
        self._marks: dict[str, _Mark] = {}
        self._acks: list[_Ack] = []
        self._ops: list[_Op] = []
        self._inflight: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._woken = False  # _ready was set since the loop last cleared it
        self._task: asyncio.Task[None] | None = None
        self.abandoned = 0
        self.refused = 0

    # -- queueing ----------------------------------------------------------------------------
    def _deadline(self) -> float:
        return time.monotonic() + self.lease

    def start(self, lease: Lease, started: float, max_retries: int | None) -> None:
        """``started``: time.monotonic() when the attempt started (just now)."""
        self._marks[lease.task.id] = (lease.token, started, max_retries)
        if not self._woken:
            self._woken = True
            self._ready.set()

    def ack(self, lease: Lease, result: Any, started: float) -> None:
        task = lease.task
        mark = self._marks.pop(task.id, None)  # finished before its mark was sent: the ack says it
        if mark is not None and mark[2] is not None and mark[2] != task.max_retries:
            self._marks[task.id] = mark  # ...unless the mark must record the task's own retry budget
        self._acks.append((task.id, lease.token, result, started, time.monotonic() + self.lease))
        if not self._woken:
            self._woken = True
            self._ready.set()

    def fail(self, lease: Lease, error: AttemptError, delay: float | None) -> None:
        self._op("fail", lease, error, delay)

    def cancel_running(self, lease: Lease, error: AttemptError) -> None:
        self._op("cancel", lease, error, None)

    def release(self, lease: Lease, error: AttemptError | None) -> None:
        self._op("release", lease, error, None)

    def _op(self, kind: str, lease: Lease, error: AttemptError | None, delay: float | None) -> None:
        self._ops.append(_Op(kind, lease.task.id, lease.token, error, delay, self._deadline()))
        self._ready.set()

    def pending(self) -> int:
        return len(self._marks) + len(self._acks) + len(self._ops) + len(self._inflight)

    def held(self) -> dict[str, int]:
        """Tasks whose outcome is not written yet: their leases must stay alive."""
        out = {task_id: m[0] for task_id, m in self._marks.items()}
        out.update((a[0], a[1]) for a in self._acks)
        out.update((o.task_id, o.token) for o in self._ops)
        out.update(self._inflight)
        return out

    # -- sending -----------------------------------------------------------------------------
    def run(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"gdw-outcomes-{self.worker_id}")

    async def _loop(self) -> None:
        backoff = 0.05
        while True:
            await self._ready.wait()
            self._ready.clear()
            self._woken = False
            while self._marks or self._acks or self._ops:
                if await self.flush_once():
                    backoff = 0.05
                else:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, max(0.05, self.lease / 4), 2.0)

    async def drain(self, deadline: float | None) -> None:
        """Until every outcome is written or ``deadline`` (monotonic); then abandon the rest."""
        self.run()
        self._ready.set()
        while self.pending() and (deadline is None or time.monotonic() < deadline):
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task_id in self.held():
            self._abandon(task_id, "the worker stopped")
        self._marks.clear()
        self._acks.clear()
        self._ops.clear()
        self._inflight.clear()

    def _abandon(self, task_id: str, why: str) -> None:
        self.abandoned += 1
        log.error(
            "worker %s: outcome of task %s abandoned (%s) before it could be written; its lease will "
            "expire and the task will be recovered",
            self.worker_id,
            task_id,
            why,
        )

    def _expire(self) -> None:
        now = time.monotonic()
        given_up = now - self.lease  # a mark started before this is past its deadline
        for task_id in [t for t, m in self._marks.items() if m[1] <= given_up]:
            del self._marks[task_id]
            self._abandon(task_id, "start mark: lease deadline passed")
        for ack in [a for a in self._acks if a[4] <= now]:
            self._acks.remove(ack)
            self._abandon(ack[0], "lease deadline passed")
        for op in [o for o in self._ops if o.deadline <= now]:
            self._ops.remove(op)
            self._abandon(op.task_id, "lease deadline passed")

    async def _storage_error(self, operation: str, exc: BaseException) -> None:
        log.warning("worker %s: %s failed (%s); retrying", self.worker_id, operation, exc)
        if self.on_storage_error is not None:
            await self.on_storage_error(operation, exc)

    async def flush_once(self) -> bool:
        """One pass over what is queued; False when a storage call failed (the caller backs off)."""
        self._expire()
        marks, self._marks = self._marks, {}
        acks, self._acks = self._acks, []
        inflight = self._inflight
        for task_id, m in marks.items():
            inflight[task_id] = m[0]
        for a in acks:
            inflight[a[0]] = a[1]
        try:
            if marks.keys().isdisjoint(a[0] for a in acks):
                mark_res, ack_res = await asyncio.gather(
                    self._send_marks(marks), self._send_acks(acks), return_exceptions=True
                )
            else:  # a task's mark and its ack in one pass: the mark lands first
                (mark_res,) = await asyncio.gather(self._send_marks(marks), return_exceptions=True)
                (ack_res,) = await asyncio.gather(self._send_acks(acks), return_exceptions=True)
        except asyncio.CancelledError:
            self._requeue(marks, acks)
            raise
        finally:
            for tid in [*marks, *(a[0] for a in acks)]:
                inflight.pop(tid, None)
        ok = True
        if isinstance(mark_res, _NotWritten):  # those not written are queued again already (logged by the storage)
            ok = False
        elif isinstance(mark_res, BaseException):
            ok = False
            self._requeue(marks, [])  # an ack queued meanwhile goes after its mark (same pass, in order)
            await self._storage_error("start", mark_res)
        if isinstance(ack_res, _NotWritten):
            ok = False
        elif isinstance(ack_res, BaseException):
            ok = False
            self._requeue({}, acks)
            await self._storage_error("complete", ack_res)
        if not ok:
            return False  # ops wait: their marks may not have landed
        ops, self._ops = self._ops, []
        if self._marks:  # a task that started and ended while this pass's marks were on their way:
            # its mark (queued since) goes first, in the next pass, and its outcome after it
            ops, later = [o for o in ops if o.task_id not in self._marks], [o for o in ops if o.task_id in self._marks]
            self._ops[:0] = later
        for op in ops:
            self._inflight[op.task_id] = op.token
        try:
            results = await asyncio.gather(*(self._send_op(op) for op in ops), return_exceptions=True)
        except asyncio.CancelledError:
            self._ops[:0] = ops
            raise
        finally:
            for op in ops:
                self._inflight.pop(op.task_id, None)
        for op, res in zip(ops, results, strict=True):
            if isinstance(res, QueueRefused):  # its queue's keys refuse it now (logged by the storage):
                ok = False  # kept with a fresh deadline, like a completion, until it lands
                op.deadline = self._deadline()
                self._ops.append(op)
            elif isinstance(res, BaseException):
                ok = False
                self._ops.append(op)
                await self._storage_error(op.kind, res)
        return ok

    def _requeue(self, marks: dict[str, _Mark], acks: list[_Ack]) -> None:
        for task_id, mark in marks.items():
            self._marks.setdefault(task_id, mark)
        self._acks[:0] = acks

    async def _send_marks(self, marks: dict[str, _Mark]) -> None:
        if not marks:
            return
        now = time.monotonic()
        starts = [Start(tid, tok, now - at if now > at else 0.0, mx) for tid, (tok, at, mx) in marks.items()]
        results = await self.storage.start(starts)
        again: dict[str, _Mark] = {}
        for (task_id, mark), ok in zip(marks.items(), results, strict=False):
            if ok is None:  # not written (its queue's keys refuse it now): sent again, in its lease
                again[task_id] = mark
            elif not ok:
                self._refused(task_id, "start mark")
        if again:
            self._requeue(again, [])
            raise _NotWritten(f"{len(again)} start mark(s) not written yet")

    async def _send_acks(self, acks: list[_Ack]) -> None:
        if not acks:
            return
        now = time.monotonic()
        batch = [Ack(tid, tok, res, now - at if now > at else 0.0) for tid, tok, res, at, _ in acks]
        results = await self.storage.complete(batch)
        again: list[_Ack] = []
        for ack, ok in zip(acks, results, strict=False):
            if ok is None:  # not written (its queue's keys refuse it now): kept until it lands, its
                # lease kept alive by the heartbeat (the worker reports the queue failing meanwhile:
                # an operator's `gdw repair` lets it land); run again elsewhere it must not be
                again.append((ack[0], ack[1], ack[2], ack[3], now + self.lease))
            elif not ok:
                self._refused(ack[0], "completion")
        if again:
            self._acks[:0] = again
            raise _NotWritten(f"{len(again)} completion(s) not written yet")

    async def _send_op(self, op: _Op) -> None:
        if op.kind == "fail":
            assert op.error is not None
            written: object = await self.storage.fail(op.task_id, op.token, op.error, op.delay)
        elif op.kind == "cancel":
            assert op.error is not None
            written = await self.storage.cancel_running(op.task_id, op.token, op.error)
        else:
            written = await self.storage.release(op.task_id, op.token, op.error)
        if written is None or written is False:
            self._refused(op.task_id, op.kind)

    def _refused(self, task_id: str, what: str) -> None:
        self.refused += 1
        log.warning(
            "worker %s: %s of task %s refused by the storage (lease no longer ours, or the record is "
            "unreadable); dropped",
            self.worker_id,
            what,
            task_id,
        )
