"""In-memory storage: the embedded default. One process, no I/O; every method is one atomic step
because nothing awaits inside it (except the wait for work in :meth:`MemoryStorage.claim`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from gdw_core import bulk as B
from gdw_core import codec, lifecycle
from gdw_core import repair as R
from gdw_core.clock import Clock, SystemClock
from gdw_core.errors import InvalidPayload, QueueFull, TaskNotFound
from gdw_core.events import Event
from gdw_core.flow.limit import LimitSpec, LimitUse
from gdw_core.flow.limiter import MemoryLimiter
from gdw_core.lifecycle import LISTED_OLDEST_FIRST, RECOVER_TO, RELEASE_TO, RERUN_FROM, RETENTION_CLASS, Detail
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.recurring import RecurringEntry, tick_id
from gdw_core.status import LEASED, TERMINAL, TRANSITIONS, WAITING, TaskStatus, check_transition
from gdw_core.storage.protocol import Ack, Command, HeartbeatReply, Lease, Mark, QueueInfo, Retention, Start
from gdw_core.storage.ready import ReadyQueue
from gdw_core.storage.workerhistory import WorkerHistory
from gdw_core.workerinfo import WorkerInfo
from gdw_core.workflow.memory import MemoryFanIn

log = logging.getLogger(__name__)

S = TaskStatus
# plain module constants: enum member lookups are slow on the hot path
_PENDING, _CLAIMED, _RUNNING, _SCHEDULED, _RETRYING = S.PENDING, S.CLAIMED, S.RUNNING, S.SCHEDULED, S.RETRYING
_COMPLETED, _FAILED, _CANCELLED = S.COMPLETED, S.FAILED, S.CANCELLED
_VALUE = {s: s.value for s in S}
_WAITING = tuple(WAITING)
_THROTTLED = S.THROTTLED
_DELAYED = (_SCHEDULED, _RETRYING, _THROTTLED)  # waiting for a time (the delayed heap)
# results of these types always encode: the storage-side safety net skips the trial encoding
_PLAIN_RESULT = frozenset({str, int, bool, type(None)})
_claim_attempts = lifecycle.attempts_after_claim
_Opt = str | None
EventRow = tuple[int, float, str, _Opt, _Opt, _Opt, _Opt, _Opt, int | None, _Opt]


class MemoryStorage:
    supports_local_callables = True
    address = "memory"
    _NO_FAILURES: Mapping[str, str] = MappingProxyType({})

    @property
    def failing_queues(self) -> Mapping[str, str]:
        """Always empty: no key of an in-memory queue can hold garbage."""
        return self._NO_FAILURES

    def __init__(self, clock: Clock | None = None, retention: Retention | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.retention = retention or Retention()
        # per finished status, its retention class's count and TTL (gdw_core.lifecycle.RETENTION_CLASS)
        self._keep = {s: int(getattr(self.retention, f"{c}_count")) for s, c in RETENTION_CLASS.items()}
        self._ttl = {s: float(getattr(self.retention, f"{c}_ttl")) for s, c in RETENTION_CLASS.items()}
        self._tasks: dict[str, TaskRecord] = {}
        # status -> its task ids in the order they entered it. A finished status's is trimmed from
        # its oldest end (retention): an OrderedDict, whose first key is found in O(1); a plain
        # dict's iteration walks past every slot its deletions left at the front (~2 µs a trim at
        # 10,000 kept, more than the rest of a no-op task's completion)
        self._finished: dict[TaskStatus, OrderedDict[str, None]] = {s: OrderedDict() for s in TERMINAL}
        self._index: dict[TaskStatus, dict[str, None]] = {
            s: self._finished[s] if s in TERMINAL else {} for s in TaskStatus
        }
        self._counts: dict[str, dict[TaskStatus, int]] = {}
        self._pending: dict[str, ReadyQueue] = {}
        self._delayed: list[tuple[float, int, str]] = []
        self._leases: dict[str, tuple[str, int, float]] = {}
        self._seq = itertools.count()
        self._token = itertools.count(1)
        self._paused: set[str] = set()
        self._workers = WorkerHistory()
        self._commands: list[Command] = []
        self._command_cursor: dict[str, int] = {}
        self._recurring: dict[str, RecurringEntry] = {}
        self._events: deque[EventRow] = deque(maxlen=self.retention.events)
        self._event_seq = itertools.count(1)
        self._last_event = 0
        self._work: asyncio.Event | None = None
        self._claiming = 0  # claims waiting for _work: only they need it set
        self._signalled = False  # _work was set since a claim last cleared it
        self._news: asyncio.Event | None = None
        self._walks: dict[str, list[str]] = {}  # bulk walks in progress: token -> snapshot of ids
        self._walk_seq = itertools.count(1)
        self._fanin = MemoryFanIn(self)
        self._limiter = MemoryLimiter(self._leases)  # gdw_core.flow: rate and concurrency limits
        self._throttled_next: float | None = None  # the soonest retry of a task the last claim throttled
        self._unique: dict[tuple[str, str], tuple[str, float]] = {}  # (queue, unique key) -> (task id, until)
        self._parked: dict[str, list[tuple[float, int, str]]] = {}  # due tasks of paused queues
        self._result_expiry: list[tuple[float, str]] = []  # (when, task id) of completed tasks with a result_ttl

    # -- plumbing ----------------------------------------------------------------------------
    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def now(self) -> float:
        return self.clock.now()

    def _signal_work(self) -> None:
        if self._claiming and not self._signalled and self._work is not None:
            self._signalled = True
            self._work.set()

    def _emit(
        self,
        kind: str,
        rec: TaskRecord | None,
        old: str | None,
        at: float,
        detail: str | None = None,
        worker: str | None = None,
    ) -> None:
        seq = next(self._event_seq)
        self._last_event = seq
        if rec is None:
            self._events.append((seq, at, kind, None, old, None, None, worker, None, detail))
        else:
            self._events.append(
                (seq, at, kind, rec.id, old, rec.name, rec.queue, worker or rec.worker, rec.attempts, detail)
            )
        if self._news is not None:
            self._news.set()

    def _shift(self, rec: TaskRecord, old: TaskStatus, new: TaskStatus, at: float, detail: str | None) -> None:
        """What every transition writes: the record's status, its two indexes, its queue's counts
        and the event row. For callers that have checked the transition: :meth:`_move`, and the
        claim's and the completion's hot paths, which know theirs and skip its general checks."""
        task_id = rec.id
        index = self._index
        del index[old][task_id]
        index[new][task_id] = None
        counts = self._counts[rec.queue]
        counts[old] -= 1
        counts[new] += 1
        rec.status = new
        seq = self._last_event = next(self._event_seq)
        self._events.append(
            (seq, at, _VALUE[new], task_id, _VALUE[old], rec.name, rec.queue, rec.worker, rec.attempts, detail)
        )

    def _move(self, rec: TaskRecord, new: TaskStatus, at: float, detail: str | None = None) -> None:
        old = rec.status
        if new not in TRANSITIONS[old]:
            check_transition(rec.id, old, new)
        task_id = rec.id
        self._shift(rec, old, new, at, detail)
        if old is _THROTTLED:
            rec.throttled_by = None
        if self._news is not None:
            self._news.set()
        if old in LEASED and new not in LEASED and self._limiter.holding:
            self._release_holds(rec, at)
        if new in TERMINAL:
            self._leases.pop(task_id, None)
            if new is _COMPLETED and rec.result_ttl is not None:
                heapq.heappush(self._result_expiry, (at + rec.result_ttl, task_id))
            if rec.children:
                self._fanin.moved(rec, old, new)  # workflow fan-in (gdw_core.workflow.memory)
            if len(self._index[new]) > self._keep[new]:
                self._retain(new)
        elif rec.children:
            self._fanin.moved(rec, old, new)

    def _queue_counts(self, queue: str) -> dict[TaskStatus, int]:
        counts = self._counts.get(queue)
        if counts is None:
            counts = self._counts[queue] = dict.fromkeys(TaskStatus, 0)
            self._pending[queue] = ReadyQueue()
        return counts

    def _push_pending(self, rec: TaskRecord) -> None:
        self._pending[rec.queue].push(rec.priority, next(self._seq), rec.id)
        self._signal_work()

    def _push_delayed(self, rec: TaskRecord) -> None:
        heapq.heappush(self._delayed, (rec.run_at, next(self._seq), rec.id))
        self._signal_work()

    # -- producing ---------------------------------------------------------------------------
    async def enqueue(self, records: Sequence[TaskRecord], max_waiting: int | None = None) -> list[bool]:
        now = self.clock.now()
        created: list[bool] = []
        tasks = self._tasks
        for rec in records:
            if rec.id in tasks:
                created.append(False)
                continue
            counts = self._counts.get(rec.queue) or self._queue_counts(rec.queue)
            if max_waiting is not None and counts[_PENDING] + counts[_SCHEDULED] >= max_waiting:
                done = records[: len(created)]  # (the records before this one; `created` has their flags)
                raise QueueFull(rec.queue, max_waiting, [r.id for r, c in zip(done, created, strict=True) if c])
            if rec.unique_key is not None and self._unique_hit(rec, now) is not None:
                created.append(False)  # another task stands for it (unique_for / debounce)
                continue
            if not rec.created_at:
                rec.created_at = now
            if rec.delay is not None:
                rec.run_at = now + rec.delay
                rec.delay = None
            if rec.status is _SCHEDULED and rec.run_at <= now:
                rec.status = _PENDING
            if rec.status is _PENDING:
                rec.run_at = rec.run_at or now
            elif rec.status is not _SCHEDULED:
                raise ValueError(f"a new task is pending or scheduled, not {rec.status}")
            status, task_id = rec.status, rec.id
            tasks[task_id] = rec
            self._index[status][task_id] = None
            counts[status] += 1
            # its first event (_emit, inlined)
            seq = self._last_event = next(self._event_seq)
            self._events.append(
                (seq, now, _VALUE[status], task_id, None, rec.name, rec.queue, rec.worker, rec.attempts, None)
            )
            if self._news is not None:
                self._news.set()
            if status is _PENDING:
                self._pending[rec.queue].push(rec.priority, next(self._seq), task_id)
            else:
                heapq.heappush(self._delayed, (rec.run_at, next(self._seq), task_id))
            if self._claiming and not self._signalled:
                self._signal_work()
            created.append(True)
        return created

    async def enqueue_workflow(self, records: Sequence[TaskRecord]) -> None:
        self._fanin.enqueue(records)

    # -- working -----------------------------------------------------------------------------
    def _promote(self, now: float, limit: int) -> float | None:
        delayed = self._delayed
        moved = 0
        while delayed and moved < limit:
            run_at, _, task_id = delayed[0]
            rec = self._tasks.get(task_id)
            if rec is None or rec.status not in _DELAYED or rec.run_at != run_at:
                heapq.heappop(delayed)  # stale entry (cancelled, retried now, purged)
                continue
            if run_at > now:
                break
            entry = heapq.heappop(delayed)
            if rec.queue in self._paused:  # due, but its queue is paused: parked until it resumes
                self._parked.setdefault(rec.queue, []).append(entry)
                continue
            moved += 1
            rec.throttled_by = None
            self._move(rec, _PENDING, now)
            self._push_pending(rec)
        return delayed[0][0] if delayed else None

    def _take(self, worker_id: str, queues: Sequence[str], count: int, lease: float, now: float) -> list[Lease]:
        out: list[Lease] = []
        throttled = 0
        self._throttled_next = None
        tasks, leases, shift = self._tasks, self._leases, self._shift
        ready = [self._pending[q] for q in queues if q in self._pending and q not in self._paused]
        only = ready[0] if len(ready) == 1 else None
        while len(out) < count and throttled < 256:  # (throttled: bounded, as in claim.lua)
            if only is not None:  # one queue: its next ids at once
                batch = only.take(min(count - len(out), 256 - throttled))
            else:  # several: the next id of the queue whose head comes first
                best: ReadyQueue | None = None
                for r in ready:
                    if r and (best is None or r.head() < best.head()):
                        best = r
                batch = [best.pop()] if best is not None else []
            if not batch:
                break
            for task_id in batch:
                rec = tasks.get(task_id)
                if rec is None or rec.status is not _PENDING:
                    continue  # stale entry (cancelled, purged)
                if rec.expires_at is not None and rec.expires_at <= now:
                    self._expire(rec, now)  # not started in time: never run
                    throttled += 1  # (counted in the bound, as in claim.lua)
                    continue
                if rec.limits:
                    throttle = self._limiter.admit(task_id, rec.limits, now, self._counts[rec.queue][_THROTTLED])
                    if throttle is not None:  # over a limit: it waits; the scan goes on (no head-of-line block)
                        rec.run_at, rec.throttled_by = throttle.until, throttle.reason
                        self._move(rec, _THROTTLED, now, throttle.reason)
                        heapq.heappush(self._delayed, (rec.run_at, next(self._seq), rec.id))
                        if self._throttled_next is None or rec.run_at < self._throttled_next:
                            self._throttled_next = rec.run_at
                        throttled += 1
                        continue
                rec.attempts = _claim_attempts(rec.attempts)
                rec.worker = worker_id
                rec.started_at = None  # set by the start mark
                token = next(self._token)
                deadline = now + lease
                leases[task_id] = (worker_id, token, deadline)
                # _move(rec, _CLAIMED, now) without its general checks: pending -> claimed
                shift(rec, _PENDING, _CLAIMED, now, None)
                if rec.children:
                    self._fanin.moved(rec, _PENDING, _CLAIMED)
                out.append(Lease(rec, token, deadline))
        if out and self._news is not None:
            self._news.set()
        return out

    async def claim(self, worker_id: str, queues: Sequence[str], count: int, lease: float, wait: float) -> list[Lease]:
        if count <= 0:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            now = self.clock.now()
            next_due = self._promote(now, 10_000)
            got = self._take(worker_id, queues, count, lease, now)
            soonest = self._throttled_next
            if soonest is not None and (next_due is None or soonest < next_due):
                next_due = soonest  # a task this claim throttled
            remaining = deadline - loop.time()
            if got or remaining <= 0:
                return got
            if next_due is not None:
                remaining = min(remaining, max(0.001, next_due - now))
            if self._work is None:
                self._work = asyncio.Event()
            self._work.clear()
            self._signalled = False
            self._claiming += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), remaining)
            finally:
                self._claiming -= 1

    def _held(self, task_id: str, token: int) -> TaskRecord | None:
        """The record if ``token`` is its current lease and it is claimed or running."""
        lease = self._leases.get(task_id)
        if lease is None or lease[1] != token:
            return None
        rec = self._tasks.get(task_id)
        if rec is None or (rec.status is not _RUNNING and rec.status is not _CLAIMED):
            return None
        return rec

    async def start(self, marks: Sequence[Start]) -> list[bool | None]:
        now = self.clock.now()
        out: list[bool | None] = []
        for mark in marks:
            try:
                rec = self._held(mark.task_id, mark.token)
                if rec is None:
                    out.append(False)
                    continue
                if rec.status is _CLAIMED:
                    started_at = now - max(0.0, float(mark.started_ago))  # read the mark before any change
                    budget = rec.max_retries if mark.max_retries is None else max(0, int(mark.max_retries))
                    rec.started_at = started_at
                    rec.max_retries = budget
                    self._move(rec, _RUNNING, now)
                out.append(True)  # already running under this token: nothing new to record
            except (TypeError, ValueError, AttributeError) as exc:
                log.warning("start mark %r refused: %s", mark, exc)
                out.append(False)
        return out

    async def complete(self, acks: Sequence[Ack]) -> list[bool | None]:
        now = self.clock.now()
        out: list[bool | None] = []
        leases, tasks, shift = self._leases, self._tasks, self._shift
        done_ids, keep = self._index[_COMPLETED], self._keep[_COMPLETED]
        holding = self._limiter.holding  # (only a claim takes a concurrency slot: none is taken below)
        for ack in acks:
            try:
                # _held(), inlined: the record if the ack's token is its current lease, claimed or running
                lease = leases.get(ack.task_id)
                rec = None if lease is None or lease[1] != ack.token else tasks.get(ack.task_id)
                if rec is None or (rec.status is not _RUNNING and rec.status is not _CLAIMED):
                    out.append(False)
                    continue
                result = ack.result
                if type(result) not in _PLAIN_RESULT and not self._encodes(rec, ack, now):
                    out.append(False)
                    continue
                old = rec.status
                if old is _CLAIMED:
                    ago = ack.started_ago
                    rec.started_at = now - (ago if ago > 0.0 else 0.0)
                rec.result = result
                rec.finished_at = now
                # _move(rec, _COMPLETED, now) without its general checks: claimed/running -> completed
                task_id = rec.id
                shift(rec, old, _COMPLETED, now, None)
                if holding:
                    self._release_holds(rec, now)
                del leases[task_id]
                if rec.result_ttl is not None:
                    heapq.heappush(self._result_expiry, (now + rec.result_ttl, task_id))
                if rec.children:
                    self._fanin.moved(rec, old, _COMPLETED)
                if len(done_ids) > keep:
                    self._retain(_COMPLETED)
                out.append(True)
            except (TypeError, ValueError, AttributeError) as exc:  # a garbage ack fails alone
                log.warning("ack %r refused: %s", ack, exc)
                out.append(False)
        if self._news is not None:
            self._news.set()
        return out

    def _encodes(self, rec: TaskRecord, ack: Ack, now: float) -> bool:
        """The storage-side safety net: a result that cannot be stored fails its own task."""
        try:
            codec.dumps(ack.result, "the task's result")
            return True
        except InvalidPayload as exc:
            message = str(exc)
        except RecursionError:
            message = "the task's result is nested too deep to encode"
        if rec.status is _CLAIMED:
            rec.started_at = now - max(0.0, ack.started_ago)
        rec.add_error(AttemptError(rec.attempts, Detail.INVALID, message, "", now, rec.worker))
        rec.finished_at = now
        self._move(rec, _FAILED, now, Detail.INVALID)
        return False

    async def fail(self, task_id: str, token: int, error: AttemptError, retry_delay: float | None) -> TaskStatus | None:
        rec = self._held(task_id, token)
        if rec is None:
            return None
        now = self.clock.now()
        error.at = error.at or now
        rec.add_error(error)
        self._leases.pop(task_id, None)
        if retry_delay is None:
            rec.finished_at = now
            self._move(rec, _FAILED, now, error.type)
        elif rec.cancel_requested:  # the operator's cancel is honoured: no retry
            rec.finished_at = now
            self._move(rec, _CANCELLED, now, Detail.CANCELLED_BY_OPERATOR)
        else:
            rec.run_at = now + max(0.0, retry_delay)
            self._move(rec, _RETRYING, now, error.type)
            self._push_delayed(rec)
        return rec.status

    async def cancel_running(self, task_id: str, token: int, error: AttemptError) -> bool:
        rec = self._held(task_id, token)
        if rec is None:
            return False
        now = self.clock.now()
        error.at = error.at or now
        rec.add_error(error)
        rec.finished_at = now
        self._move(rec, _CANCELLED, now, error.type)
        return True

    async def release(self, task_id: str, token: int, error: AttemptError | None) -> bool:
        rec = self._held(task_id, token)
        if rec is None:
            return False
        now = self.clock.now()
        rec.attempts = lifecycle.attempts_after_release(rec.attempts)
        if error is not None:
            rec.add_error(dataclasses.replace(error, at=error.at or now, counted=False))
        self._leases.pop(task_id, None)
        if rec.cancel_requested:  # the operator's cancel is honoured, not carried back into the queue
            rec.finished_at = now
            self._move(rec, _CANCELLED, now, Detail.CANCELLED_BY_OPERATOR)
            return True
        target = RELEASE_TO[rec.status]
        rec.run_at = now
        if target is _PENDING:
            rec.started_at = None  # it never started
            self._move(rec, target, now, Detail.RELEASED)
            self._push_pending(rec)
        else:
            self._move(rec, target, now, Detail.RELEASED)
            self._push_delayed(rec)
        return True

    async def progress(self, task_id: str, token: int, value: Any) -> bool:
        rec = self._held(task_id, token)
        if rec is None:
            return False
        rec.progress = value
        self._emit("progress", rec, None, self.clock.now())
        return True

    async def heartbeat(self, info: WorkerInfo, held: Mapping[str, int], lease: float) -> HeartbeatReply:
        now = self.clock.now()
        self._forget(self._workers.beat(info, now))
        lost: set[str] = set()
        cancel: set[str] = set()
        for task_id, token in held.items():
            current = self._leases.get(task_id)
            rec = self._tasks.get(task_id)
            if current is None or current[1] != token or rec is None:
                lost.add(task_id)
                continue
            self._leases[task_id] = (current[0], token, now + lease)
            if rec.cancel_requested:
                cancel.add(task_id)
        cursor = self._command_cursor.get(info.id, 0)
        commands = tuple(c for c in self._commands[cursor:] if lifecycle.targets(c, info.id))
        self._command_cursor[info.id] = len(self._commands)
        return HeartbeatReply(frozenset(lost), frozenset(cancel), commands, frozenset(self._paused))

    # -- flow control (gdw_core.flow) --------------------------------------------------------
    def _release_holds(self, rec: TaskRecord, now: float) -> None:
        """The task left its leased state: its concurrency slots are free; a throttled task
        waiting for one is due now."""

        def waiting(task_id: str) -> bool:
            waiter = self._tasks.get(task_id)
            return waiter is not None and waiter.status is _THROTTLED

        for task_id in self._limiter.release(rec.id, waiting):
            waiter = self._tasks[task_id]
            waiter.run_at = now
            self._push_delayed(waiter)

    def _expire(self, rec: TaskRecord, now: float) -> None:
        message = Detail.NOT_STARTED_IN_TIME
        rec.add_error(AttemptError(rec.attempts, "Expired", message, "", now, None, counted=False))
        rec.finished_at = now
        self._move(rec, _CANCELLED, now, Detail.EXPIRED)

    def _unique_hit(self, rec: TaskRecord, now: float) -> str | None:
        """The task that stands for ``rec`` (a debounced one takes its arguments and is pushed
        back), or None: ``rec`` will be created and its key now points to it."""
        key = (rec.queue, rec.unique_key or "")
        hit = self._unique.get(key)
        first = None if hit is None or hit[1] <= now else self._tasks.get(hit[0])
        if first is not None and rec.debounce is None:
            return first.id
        if first is not None and first.status is _SCHEDULED and rec.debounce is not None:
            first.args, first.kwargs = rec.args, rec.kwargs
            first.run_at = now + rec.debounce
            self._push_delayed(first)
            self._unique[key] = (first.id, first.run_at + 1.0)
            return first.id
        if len(self._unique) > 10_000:  # closed windows do not pile up
            self._unique = {k: v for k, v in self._unique.items() if v[1] > now}
        span = rec.unique_for if rec.unique_for is not None else (rec.debounce or 0.0) + 1.0
        self._unique[key] = (rec.id, now + span)
        return None

    async def unique_holder(self, queue: str, unique_key: str) -> str | None:
        hit = self._unique.get((queue, unique_key))
        if hit is None or hit[1] <= self.clock.now() or hit[0] not in self._tasks:
            return None
        return hit[0]

    async def set_limit(self, spec: LimitSpec) -> None:
        self._limiter.set(spec)
        self._signal_work()

    async def remove_limit(self, name: str) -> bool:
        removed = self._limiter.remove(name)
        self._signal_work()
        return removed

    async def limits(self) -> list[LimitUse]:
        return self._limiter.uses(self.clock.now())

    async def remove_worker(self, worker_id: str) -> None:
        self._forget(self._workers.stop(worker_id, self.clock.now()))

    def _forget(self, worker_ids: list[str]) -> None:
        for worker_id in worker_ids:
            self._command_cursor.pop(worker_id, None)

    # -- time-driven -------------------------------------------------------------------------
    async def promote_due(self, limit: int = 1000) -> float | None:
        next_due = self._promote(self.clock.now(), limit)
        for entry in self._recurring.values():
            if next_due is None or entry.next_run < next_due:
                next_due = entry.next_run
        return next_due

    async def recover_expired(self, limit: int = 1000) -> list[str]:
        now = self.clock.now()
        expired = [tid for tid, (_, _, deadline) in self._leases.items() if deadline <= now][:limit]
        for task_id in expired:
            worker = self._leases.pop(task_id)[0]
            rec = self._tasks.get(task_id)
            if rec is None or rec.status not in LEASED:
                continue  # nothing leased any more: the stale lease alone is dropped
            err = AttemptError(rec.attempts, "LeaseExpired", f"lease held by {worker} expired", "", now, worker)
            rec.add_error(err)
            if rec.cancel_requested:  # the operator's cancel is honoured, never carried into a retry
                rec.finished_at = now
                self._move(rec, _CANCELLED, now, Detail.CANCELLED_BY_OPERATOR)
            elif lifecycle.is_poison(rec.attempts, rec.max_retries):
                rec.finished_at = now
                self._move(rec, _FAILED, now, Detail.POISON)
            else:
                rec.run_at = now
                self._move(rec, RECOVER_TO, now, Detail.LEASE_EXPIRED)
                self._push_delayed(rec)
        return expired

    async def fire_recurring(self, limit: int = 100) -> list[str]:
        now = self.clock.now()
        created: list[str] = []
        for entry in list(self._recurring.values()):
            if entry.next_run > now or len(created) >= limit:
                continue
            tick = entry.next_run
            entry.next_run = entry.following(tick, now)
            last = self._tasks.get(entry.last_task_id) if entry.last_task_id else None
            if last is not None and not entry.allow_overlap and last.status not in TERMINAL:
                self._emit("skipped", last, None, now, f"recurring {entry.id}: previous run still {last.status}")
                continue
            rec = TaskRecord(
                id=tick_id(entry.id, tick),
                name=entry.name,
                args=list(entry.args),
                kwargs=dict(entry.kwargs),
                queue=entry.queue,
                recurring_id=entry.id,
                run_at=now,
                **entry.task_options,
            )
            if (await self.enqueue([rec]))[0]:
                entry.last_task_id = rec.id
                entry.last_run = tick
                created.append(rec.id)
        return created

    def _retain(self, status: TaskStatus) -> None:
        index, tasks = self._finished[status], self._tasks
        for _ in range(len(index) - self._keep[status]):  # the oldest first (see _finished)
            rec = tasks.pop(index.popitem(last=False)[0])
            self._counts[rec.queue][status] -= 1

    def _drop(self, task_id: str) -> None:
        rec = self._tasks.pop(task_id)
        del self._index[rec.status][task_id]
        self._counts[rec.queue][rec.status] -= 1

    async def purge_expired(self) -> int:
        now = self.clock.now()
        dropped = 0
        while self._result_expiry and self._result_expiry[0][0] <= now:  # per-task result_ttl
            _, task_id = heapq.heappop(self._result_expiry)
            rec = self._tasks.get(task_id)
            if rec is not None and rec.status is _COMPLETED:
                self._drop(task_id)
                dropped += 1
        for status, ttl in self._ttl.items():
            index = self._finished[status]
            while index:  # oldest first, each found in O(1) (no copy of the index per pass)
                task_id = next(iter(index))
                rec = self._tasks.get(task_id)
                if rec is None:
                    del index[task_id]  # an id pointing nowhere: dropped alone
                    continue
                finished = rec.finished_at or 0.0
                if finished + ttl > now:
                    break  # finished in order: the rest are younger
                self._drop(task_id)
                dropped += 1
        return dropped

    # -- control -----------------------------------------------------------------------------
    async def cancel(self, task_id: str) -> TaskStatus:
        rec = self._tasks.get(task_id)
        if rec is None:
            raise TaskNotFound(task_id)
        return self._cancel(rec, self.clock.now())

    def _cancel(self, rec: TaskRecord, now: float) -> TaskStatus:
        if rec.status in _WAITING:
            rec.finished_at = now
            self._move(rec, _CANCELLED, now, Detail.CANCELLED_BY_OPERATOR)
        elif rec.status in LEASED and not rec.cancel_requested:
            rec.cancel_requested = True
            self._emit("cancel_requested", rec, None, now)
        return rec.status

    async def retry_now(self, task_id: str) -> bool:
        rec = self._tasks.get(task_id)
        if rec is None:
            raise TaskNotFound(task_id)
        if rec.status not in _DELAYED:
            return False
        self._due_now(rec, self.clock.now(), Detail.RETRY_NOW)
        return True

    def _due_now(self, rec: TaskRecord, now: float, detail: str) -> None:
        rec.run_at = now
        self._move(rec, _PENDING, now, detail)
        self._push_pending(rec)

    async def rerun(self, task_id: str) -> B.Item:
        rec = self._tasks.get(task_id)
        if rec is None:
            raise TaskNotFound(task_id)
        return self._rerun(rec, self.clock.now())

    def _rerun(self, rec: TaskRecord, now: float) -> B.Item:
        if rec.status in _DELAYED:
            self._due_now(rec, now, Detail.RETRY_NOW)
            return B.Item(rec.id, True, "due now")
        if rec.status not in RERUN_FROM:
            return B.Item(rec.id, False, f"it is {rec.status}")
        rec.attempts = lifecycle.attempts_after_rerun(rec.attempts)
        rec.finished_at = rec.started_at = rec.worker = rec.result = rec.progress = None
        rec.cancel_requested = False
        self._due_now(rec, now, Detail.RERUN)
        return B.Item(rec.id, True, "rerun")

    async def act_on(self, action: B.Action, task_id: str) -> B.Item:
        rec = self._tasks.get(task_id)
        if rec is None:
            return B.Item(task_id, False, "gone")
        if rec.status not in B.ACTS_ON[action]:
            return B.Item(task_id, False, f"it is {rec.status}")
        item = self._bulk_one(action, B.Filter(rec.status), rec.queue, task_id, self.clock.now())
        return item if item is not None else B.Item(task_id, False, "gone")

    async def bulk(self, action: B.Action, flt: B.Filter, queue: str, cursor: B.Cursor, limit: int) -> B.Batch:
        if not cursor.hi:  # start: snapshot the ids in the state's index (bounded by "now")
            token = str(next(self._walk_seq))
            ids = [i for i in self._index[flt.state] if (r := self._tasks.get(i)) is None or r.queue == queue]
            self._walks[token] = ids
            while len(self._walks) > 64:  # abandoned walks do not pile up
                del self._walks[next(iter(self._walks))]
            cursor = B.Cursor(lo="0", ties=0, hi=token)
        ids = self._walks.get(cursor.hi, [])
        at = int(cursor.lo)
        part = ids[at : at + limit]
        now = self.clock.now()
        items = [item for task_id in part if (item := self._bulk_one(action, flt, queue, task_id, now)) is not None]
        if at + limit >= len(ids):
            self._walks.pop(cursor.hi, None)
            return B.Batch(items, None)
        return B.Batch(items, B.Cursor(lo=str(at + limit), ties=0, hi=cursor.hi))

    def _bulk_one(self, action: B.Action, flt: B.Filter, queue: str, task_id: str, now: float) -> B.Item | None:
        """One task of a bulk batch: None when it does not match the filter (any more)."""
        rec = self._tasks.get(task_id)
        if rec is None:
            return None  # deleted since the walk started: nothing to do
        if rec.status is not flt.state or rec.queue != queue or (flt.name is not None and rec.name != flt.name):
            return None
        when = B.when_of(rec.status, rec.created_at, rec.finished_at)
        if (flt.since is not None and when < flt.since) or (flt.before is not None and when > flt.before):
            return None
        if action is B.Action.COUNT:
            return B.Item(task_id, True, "matches")
        if action is B.Action.RETRY:
            return self._rerun(rec, now)
        if action is B.Action.CANCEL:
            after = self._cancel(rec, now)
            return B.Item(task_id, True, "cancelled" if after is _CANCELLED else "cancel requested")
        if rec.status not in TERMINAL:
            return B.Item(task_id, False, f"it is {rec.status}")
        self._drop(task_id)
        return B.Item(task_id, True, "purged")

    async def repair(self, queue: str, dry_run: bool = False, fail_unreadable: bool = False) -> R.QueueRepair:
        """Nothing to repair: an in-memory index holds what the storage put there, never a key of
        another type, and every move updates a task's status and its index in one step."""
        return R.QueueRepair(queue, dry_run)

    async def set_paused(self, queue: str, paused: bool) -> None:
        if paused:
            self._paused.add(queue)
        else:
            self._paused.discard(queue)
            for entry in self._parked.pop(queue, []):  # its due tasks are promoted again
                heapq.heappush(self._delayed, entry)
            self._signal_work()
        self._queue_counts(queue)
        self._emit("paused" if paused else "resumed", None, None, self.clock.now(), queue)

    async def send_command(self, command: Command) -> None:
        self._commands.append(command)
        self._emit("command", None, None, self.clock.now(), command.kind, command.worker)

    async def add_recurring(self, entry: RecurringEntry) -> bool:
        created = entry.id not in self._recurring
        self._recurring[entry.id] = entry
        self._signal_work()
        return created

    async def remove_recurring(self, entry_id: str) -> bool:
        return self._recurring.pop(entry_id, None) is not None

    # -- inspect -----------------------------------------------------------------------------
    async def get(self, task_id: str) -> TaskRecord | None:
        return self._tasks.get(task_id)

    async def counts(self, queue: str | None = None) -> dict[TaskStatus, int]:
        if queue is not None:
            return dict(self._counts.get(queue) or dict.fromkeys(TaskStatus, 0))
        total = dict.fromkeys(TaskStatus, 0)
        for counts in self._counts.values():
            for status, n in counts.items():
                total[status] += n
        return total

    async def list_tasks(
        self, status: TaskStatus, queue: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[TaskRecord]:
        status = TaskStatus(status)
        if status is _PENDING:
            lanes = [r.entries() for q, r in self._pending.items() if queue is None or q == queue]
            entries = heapq.nsmallest(offset + limit, itertools.chain.from_iterable(lanes))
            ids: Any = (e[2] for e in entries)
        elif status in _DELAYED:
            ids = sorted(self._index[status], key=lambda t: self._tasks[t].run_at)
        elif status is _CLAIMED:  # lease order: the soonest deadline first
            leases = self._leases
            ids = sorted(self._index[status], key=lambda t: leases[t][2] if t in leases else 0.0)
        elif status in TERMINAL:  # newest first
            ids = reversed(self._index[status])
        else:  # start order (running), arrival order (the other waiting states)
            ids = iter(self._index[status])
        out: list[TaskRecord] = []
        skipped = 0
        for task_id in ids:
            rec = self._tasks.get(task_id)
            if rec is None or rec.status is not status or (queue is not None and rec.queue != queue):
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(rec)
            if len(out) >= limit:
                break
        return out

    async def list_after(
        self,
        status: TaskStatus,
        queue: str | None = None,
        after: Mark | None = None,
        limit: int = 50,
        reverse: bool = False,
    ) -> list[tuple[Mark, TaskRecord]]:
        status = TaskStatus(status)
        if limit <= 0:
            return []
        # the same order as list_tasks: waiting, claimed and running oldest first, the rest newest first
        ascending = status in LISTED_OLDEST_FIRST
        forward = ascending != reverse
        marks = sorted(self._marks(status, queue), reverse=not forward)
        out: list[tuple[Mark, TaskRecord]] = []
        for mark in marks:
            if after is not None and not (mark > after if forward else mark < after):
                continue
            out.append((mark, self._tasks[mark[1]]))
            if len(out) >= limit:
                break
        return out

    def _marks(self, status: TaskStatus, queue: str | None) -> list[Mark]:
        """Each task's position in the state's order (what list_tasks sorts by), as a number."""
        if status is _PENDING:
            best: dict[str, float] = {}
            for q, ready in self._pending.items():
                if queue is not None and q != queue:
                    continue
                for neg_priority, seq, task_id in ready.entries():
                    rec = self._tasks.get(task_id)
                    if rec is not None and rec.status is _PENDING:
                        score = float(neg_priority) * 2.0**40 + seq
                        best[task_id] = min(score, best.get(task_id, score))
            return [(score, task_id) for task_id, score in best.items()]
        out: list[Mark] = []
        for task_id in self._index[status]:
            rec = self._tasks.get(task_id)
            if rec is None or rec.status is not status or (queue is not None and rec.queue != queue):
                continue
            if status in _DELAYED:
                score = rec.run_at
            elif status is _CLAIMED:
                lease = self._leases.get(task_id)
                score = lease[2] if lease else 0.0
            elif status is _RUNNING:
                score = rec.started_at or 0.0
            else:
                score = rec.finished_at or 0.0
            out.append((score, task_id))
        return out

    async def queues(self) -> list[QueueInfo]:
        infos = []
        for name in sorted(set(self._counts) | self._paused):
            counts = self._counts.get(name) or dict.fromkeys(TaskStatus, 0)
            oldest = None
            ready = self._pending.get(name)
            for _, _, task_id in itertools.islice(ready.entries() if ready is not None else (), 8):
                rec = self._tasks.get(task_id)
                if rec is not None and rec.status is _PENDING:
                    oldest = rec.run_at
                    break
            infos.append(QueueInfo(name, name in self._paused, {str(k): v for k, v in counts.items()}, oldest))
        return infos

    async def workers(self) -> list[WorkerInfo]:
        """Every record of the bounded history (live, draining, stopped, dead), as the workers
        said it; :mod:`gdw_core.inspect` decides which are dead."""
        return self._workers.records(self.clock.now())

    async def recurring(self) -> list[RecurringEntry]:
        return sorted(self._recurring.values(), key=lambda e: e.next_run)

    async def last_event_id(self) -> str:
        return str(self._last_event)

    async def read_events(self, after: str, limit: int = 500, wait: float = 0.0) -> list[Event]:
        start = int(after)
        if self._last_event <= start and wait > 0:
            if self._news is None:
                self._news = asyncio.Event()
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), wait)
            except TimeoutError:
                return []
        rows: list[EventRow] = []
        if self._last_event > start and self._events:
            first = self._events[0][0]  # sequence numbers are consecutive within the deque
            skip = max(0, start - first + 1)
            rows = list(itertools.islice(self._events, skip, skip + limit))
        return [Event(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]
