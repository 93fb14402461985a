"""The storage protocol every backend implements, and the small value types it speaks in.

Contract (checked by ``tests/contract``, which runs against every backend):

* Each method that changes a task is one atomic step that checks the transition table
  (:mod:`gdw_core.status`) and appends one event per transition.
* "Now" is the storage's own clock (:meth:`Storage.now`); callers pass *delays*, never absolute
  times computed on their own clock, except ``run_at`` given by the user for ``schedule_at``.
* Claim grants a lease (token + deadline). Outcomes (complete / fail / release / progress) carry the
  token and are refused (return False / None) when it is stale: the task was recovered and maybe
  claimed by someone else.
* Enqueue is idempotent by task id: an id that exists is not enqueued again (returns False).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gdw_core import bulk as B
from gdw_core import repair as R
from gdw_core.events import Event
from gdw_core.flow.limit import LimitSpec, LimitUse
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.workerinfo import WorkerInfo


@dataclass(slots=True)  # not frozen: ~0.5 µs less to build, and one is built per task
class Lease:
    task: TaskRecord
    token: int  # fencing token: strictly increasing per task over its claims
    deadline: float


@dataclass(slots=True)  # not frozen: ~0.5 µs less to build, and one is built per task
class Start:
    """A claimed task's slot started it: ``claimed -> running``."""

    task_id: str
    token: int
    #: seconds since the slot started it, on the worker's monotonic clock (the storage subtracts it
    #: from its own "now", so no host's wall clock is trusted)
    started_ago: float = 0.0
    #: the task's effective retry budget (the worker's ``@task`` policy); None keeps the record's
    max_retries: int | None = None


@dataclass(slots=True)  # not frozen: ~0.5 µs less to build, and one is built per task
class Ack:
    """A successful outcome to record. ``result`` has already passed the validation boundary
    (JSON-encodable, within the size and depth limits): the worker checks it before acking, so a
    result that cannot be stored fails only its own task, the same way on every backend."""

    task_id: str
    token: int
    result: Any = None
    #: for a task still ``claimed`` (its start mark was never sent: it finished first), when it
    #: started, as in :class:`Start`; the storage records ``claimed -> completed`` directly
    started_ago: float = 0.0


@dataclass(frozen=True, slots=True)
class Command:
    """A control message for workers. ``worker`` None = every worker."""

    kind: str  # "shutdown"
    worker: str | None = None
    timeout: float | None = None
    immediate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "worker": self.worker, "timeout": self.timeout, "immediate": self.immediate}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Command:
        timeout = data.get("timeout")
        return cls(
            kind=str(data.get("kind", "")),
            worker=None if data.get("worker") in (None, "") else str(data["worker"]),
            timeout=None if timeout in (None, "") else float(timeout),
            immediate=bool(data.get("immediate", False)),
        )


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    lost: frozenset[str] = frozenset()  # held tasks whose lease this worker no longer has
    cancel: frozenset[str] = frozenset()  # held tasks an operator asked to cancel
    commands: tuple[Command, ...] = ()
    paused: frozenset[str] = frozenset()  # queues currently paused


#: a task's place in its state's index: (score, id), compared as a tuple (see Storage.list_after)
Mark = tuple[float, str]


@dataclass(frozen=True, slots=True)
class QueueInfo:
    name: str
    paused: bool
    counts: dict[str, int]
    oldest_pending_at: float | None = None  # created/run-at time of the oldest pending task
    #: status -> why its index cannot be read (a key of another type written by hand): its count
    #: shows 0 although tasks may be in that status (gdw repair puts them back)
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Retention:
    """How much finished history to keep. Oldest records beyond the count, or older than the TTL,
    are deleted (with their results)."""

    completed_count: int = 10_000
    completed_ttl: float = 24 * 3600.0
    failed_count: int = 10_000
    failed_ttl: float = 7 * 24 * 3600.0
    events: int = 10_000  # events kept in the stream


@runtime_checkable
class Storage(Protocol):
    #: memory storage runs in-process callables (lambdas); Redis refuses them at submit
    supports_local_callables: bool
    #: a human label of where it lives, never with a password ("memory", "redis://host:6379/0")
    address: str

    @property
    def failing_queues(self) -> Mapping[str, str]:
        """Queues whose claims or outcomes fail now, as this storage object saw them (queue -> what
        fails and the error): a queue whose keys hold garbage is skipped by claims, its outcomes are
        kept and sent again, and the worker reports it in its heartbeat."""
        ...

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def now(self) -> float: ...

    # -- producing -------------------------------------------------------------------------
    async def enqueue(self, records: Sequence[TaskRecord], max_waiting: int | None = None) -> list[bool]:
        """Store new tasks (status pending or scheduled). Per record: True if created, False if a
        task with that id already existed (nothing changed). Raises QueueFull when a queue holds
        ``max_waiting`` waiting tasks; its ``enqueued`` lists the ids of this call's tasks that were
        created all the same (those before the queue filled)."""
        ...

    async def enqueue_workflow(self, records: Sequence[TaskRecord]) -> None:
        """Store a workflow's nodes (parents listed before their children) in one atomic step:
        each starts ``blocked`` and becomes pending once its parents are satisfied
        (:mod:`gdw_core.workflow.rules`). Raises DuplicateTask (an id exists) or
        UnknownDependency (a parent is neither in ``records`` nor stored): then nothing is stored."""
        ...

    # -- working -----------------------------------------------------------------------------
    async def claim(self, worker_id: str, queues: Sequence[str], count: int, lease: float, wait: float) -> list[Lease]:
        """Lease up to ``count`` due tasks (``pending -> claimed``), highest priority first,
        skipping paused queues; waits up to ``wait`` seconds for the first one. Each claim counts
        an attempt (given back by :meth:`release`). An entry that cannot be read is failed with
        its reason (InvalidPayload) and never handed out; it never stops the rest of the batch."""
        ...

    async def start(self, marks: Sequence[Start]) -> list[bool | None]:
        """``claimed -> running`` for each mark whose token is current (False: stale / not claimed).
        Sets the started time (now - started_ago) and, when given, the effective max_retries.
        None: not written now (its queue's keys refuse the move, see ``failing_queues``, or the
        server refused that queue's call): nothing of it changed, send it again."""
        ...

    async def complete(self, acks: Sequence[Ack]) -> list[bool | None]:
        """``claimed|running -> completed`` per ack; False where the token is stale, None where it
        was not written now (as for :meth:`start`: send it again). One ack that cannot be recorded
        never stops the others in the batch."""
        ...

    async def fail(self, task_id: str, token: int, error: AttemptError, retry_delay: float | None) -> TaskStatus | None:
        """Record a failed attempt: ``retrying`` after ``retry_delay`` seconds, or ``failed`` when
        it is None; ``cancelled`` instead of a retry when an operator asked to cancel it. Returns
        the new status, or None if the lease is stale. (A release and a lease recovery honour a
        cancel request the same way: a cancel is never carried back into the queue.)"""
        ...

    async def cancel_running(self, task_id: str, token: int, error: AttemptError) -> bool:
        """The worker stopped a running task because an operator cancelled it."""
        ...

    async def release(self, task_id: str, token: int, error: AttemptError | None) -> bool:
        """Give a leased task back (a graceful drain) without spending an attempt: a ``claimed``
        one (never started) goes back to ``pending``, a ``running`` one (interrupted) to
        ``retrying``, due now. ``error`` (the interruption) is kept in the task's history as a note
        that did not count. False if the lease is stale."""
        ...

    async def progress(self, task_id: str, token: int, value: Any) -> bool: ...

    async def heartbeat(self, info: WorkerInfo, held: Mapping[str, int], lease: float) -> HeartbeatReply:
        """Publish the worker's record and extend the leases it holds, in one step."""
        ...

    async def remove_worker(self, worker_id: str) -> None: ...

    # -- time-driven -------------------------------------------------------------------------
    async def promote_due(self, limit: int = 1000) -> float | None:
        """Move due scheduled/retrying tasks to pending. Returns when the next one is due."""
        ...

    async def recover_expired(self, limit: int = 1000) -> list[str]:
        """Expired leases: back to retrying (attempt counted) or failed when attempts are spent."""
        ...

    async def fire_recurring(self, limit: int = 100) -> list[str]:
        """Enqueue due recurring ticks (deterministic ids); returns the task ids created."""
        ...

    async def purge_expired(self) -> int:
        """Apply retention (count and TTL) to finished tasks; returns how many were deleted."""
        ...

    # -- control -----------------------------------------------------------------------------
    async def cancel(self, task_id: str) -> TaskStatus:
        """Waiting tasks become cancelled at once; a running one gets ``cancel_requested`` (its
        worker stops it). Returns the status after the call. TaskNotFound if unknown."""
        ...

    async def retry_now(self, task_id: str) -> bool:
        """A scheduled or retrying task becomes pending now. False if it was in another state."""
        ...

    async def rerun(self, task_id: str) -> B.Item:
        """An operator's retry of one task: a failed or cancelled one goes back to ``pending``
        under the same id, its history (errors) kept, with a fresh attempt budget
        (:func:`gdw_core.lifecycle.attempts_after_rerun`), event detail ``rerun``; a scheduled or
        retrying one is due now (as :meth:`retry_now`). Anything else: ``done`` False with the
        reason. TaskNotFound if unknown."""
        ...

    async def act_on(self, action: B.Action, task_id: str) -> B.Item:
        """One bulk action on one task by id (a dashboard's selection): the same rules as a step of
        :meth:`bulk` (one Lua script on Redis), whatever state the task is in now. ``done`` False
        with the reason for a task the action does not apply to ("it is pending"), one that is
        gone ("gone") or one that cannot be read ("unreadable record: ...")."""
        ...

    async def bulk(self, action: B.Action, flt: B.Filter, queue: str, cursor: B.Cursor, limit: int) -> B.Batch:
        """One bounded step of a bulk walk over ``queue``'s ``flt.state`` tasks: at most ``limit``
        tasks, each re-checked against the filter and acted on alone (an unreadable one is
        skipped with its reason). A fresh :class:`~gdw_core.B.Cursor` starts the walk (the
        storage snapshots its end); the returned ``next`` continues it, None when done."""
        ...

    async def repair(self, queue: str, dry_run: bool = False, fail_unreadable: bool = False) -> R.QueueRepair:
        """Put ``queue``'s status indexes right (see :mod:`gdw_core.repair`): an index that is not
        a sorted set is moved aside, every task record is put back in the index of its status and
        taken out of any other, an unreadable record is reported with its reason and left alone
        (with ``fail_unreadable``, one that is not a task at all ends failed, saying why).
        ``dry_run`` says what would change and changes nothing. A second repair changes nothing."""
        ...

    async def set_paused(self, queue: str, paused: bool) -> None: ...
    async def send_command(self, command: Command) -> None: ...
    async def add_recurring(self, entry: RecurringEntry) -> bool: ...
    async def remove_recurring(self, entry_id: str) -> bool: ...

    # -- flow control (gdw_core.flow) --------------------------------------------------------
    async def set_limit(self, spec: LimitSpec) -> None:
        """Create or replace a named limit; claims use it from their next call."""
        ...

    async def remove_limit(self, name: str) -> bool:
        """Forget a limit (tasks that take it are unlimited by it from now). False if unknown."""
        ...

    async def limits(self) -> list[LimitUse]:
        """Every defined limit with its current use."""
        ...

    async def unique_holder(self, queue: str, unique_key: str) -> str | None:
        """The id of the task that stands for ``unique_key`` in ``queue`` while its window is open
        (``unique_for`` / ``debounce``, decided by :meth:`enqueue`), None when there is none."""
        ...

    # -- inspect -----------------------------------------------------------------------------
    async def get(self, task_id: str) -> TaskRecord | None: ...
    async def counts(self, queue: str | None = None) -> dict[TaskStatus, int]: ...
    async def list_tasks(
        self, status: TaskStatus, queue: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[TaskRecord]:
        """Tasks in ``status``: waiting ones in run order, running ones by start, finished ones
        newest first. Reads only one page."""
        ...

    async def list_after(
        self,
        status: TaskStatus,
        queue: str | None = None,
        after: Mark | None = None,
        limit: int = 50,
        reverse: bool = False,
    ) -> list[tuple[Mark, TaskRecord]]:
        """Up to ``limit`` tasks in ``status`` that come after the position ``after`` (None: from
        the start) in :meth:`list_tasks`' order (``reverse``: the opposite order), each with its
        position: a cursor that stays put when tasks before it leave the state, and costs the
        page, not the depth. A position is the backend's own (index score, id)."""
        ...

    async def queues(self) -> list[QueueInfo]: ...
    async def workers(self) -> list[WorkerInfo]: ...
    async def recurring(self) -> list[RecurringEntry]: ...
    async def last_event_id(self) -> str:
        """The id of the newest event kept ("0" when there is none)."""
        ...

    async def read_events(self, after: str, limit: int = 500, wait: float = 0.0) -> list[Event]:
        """Events after the id ``after`` ("0": from the oldest kept), oldest first, waiting up to
        ``wait`` seconds for the first."""
        ...
