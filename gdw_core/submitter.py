"""Turning "run this function with these arguments, with these options" into task records."""

from __future__ import annotations

import asyncio
import functools
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from types import FunctionType
from typing import TYPE_CHECKING, Any

from gdw_core import tracing
from gdw_core.codec import check_args
from gdw_core.errors import (
    DuplicateTask,
    InvalidPayload,
    InvalidSchedule,
    InvalidTask,
    QueueClosed,
    QueueFull,
    UnknownTask,
)
from gdw_core.flow.expiry import Expires, check_expires, expires_at
from gdw_core.flow.limit import check_limit_names
from gdw_core.flow.uniqueness import check_unique, digest, window
from gdw_core.limits import PayloadLimits, check_entry_id, check_queue_name, check_task_id
from gdw_core.record import NOTHING, TaskRecord
from gdw_core.recurring import RecurringEntry, check_cron
from gdw_core.registry import LOCAL_PREFIX, NAME_RE, TaskDefaults, TaskSpec
from gdw_core.retry import RetryPolicy
from gdw_core.status import TaskStatus

if TYPE_CHECKING:
    from gdw_core.queue import TaskQueue
    from gdw_core.storage.protocol import Storage

TaskRef = Callable[..., Any] | str
#: turns of the event loop a full queue's own worker gets to take from it before QueueFull (one
#: is enough for an idle worker: its claimer was woken by the first of the submits)
_TURNS = 4
_UNKNOWN = TaskDefaults()  # the defaults of a task known only by its name (marker, compared by identity)

#: what submitting a caller-given id that already exists does: raise DuplicateTask, or return the id
IF_EXISTS = ("error", "skip")


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Per-call options, kept apart from the task's own arguments (``queue.options(...)``)."""

    task_id: str | None = None
    queue: str | None = None
    priority: int | None = None
    timeout: float | None = None
    retry: RetryPolicy | None = None
    secret: bool | None = None
    #: a caller-given ``task_id`` that already exists: "error" raises DuplicateTask (nothing
    #: enqueued, the existing task untouched); "skip" returns the existing id (idempotent submit)
    if_exists: str = "error"
    #: named limits this call takes on top of the task's own (gdw_core.flow), e.g. ["customer:42"]
    limits: Sequence[str] = ()
    #: not started by then -> never run (seconds / timedelta from the submit, or an aware datetime)
    expires: Expires | None = None
    #: a second submit of the same name + arguments (or ``unique_key``) within this many seconds
    #: returns the first task's id; ``debounce``: a burst runs once, with the latest arguments,
    #: this many seconds after the last submit
    unique_for: float | timedelta | None = None
    unique_key: str | None = None
    debounce: float | timedelta | None = None
    #: a completed task (and its result) is deleted this long after it finished (gdw_core.flow)
    result_ttl: float | timedelta | None = None
    #: ids of stored tasks it waits for (it is ``blocked`` until they complete; gdw_core.workflow)
    depends_on: tuple[str, ...] = ()
    #: one of those failed for good or was cancelled: "cancel" this task (default) or "run" it anyway
    on_parent_failure: str = "cancel"

    def __post_init__(self) -> None:
        object.__setattr__(self, "result_ttl", window(self.result_ttl, "result_ttl"))
        object.__setattr__(self, "unique_for", window(self.unique_for, "unique_for"))
        object.__setattr__(self, "debounce", window(self.debounce, "debounce"))
        check_unique(self.unique_for, self.debounce, self.unique_key)  # type: ignore[arg-type]
        object.__setattr__(self, "limits", check_limit_names(self.limits))
        if self.expires is not None:
            check_expires(self.expires)
        if self.timeout is not None and not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise InvalidSchedule(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.task_id is not None:
            check_task_id(self.task_id)
        if self.queue is not None:
            check_queue_name(self.queue)
        if self.if_exists not in IF_EXISTS:
            raise InvalidTask(f"if_exists must be one of {', '.join(IF_EXISTS)}, got {self.if_exists!r}")
        if self.priority is not None and (isinstance(self.priority, bool) or not isinstance(self.priority, int)):
            raise InvalidTask(f"priority must be an int, got {self.priority!r}")


def seconds(delay: float | timedelta, what: str = "delay") -> float:
    value = delay.total_seconds() if isinstance(delay, timedelta) else delay
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidSchedule(f"{what} must be seconds or a timedelta, got {delay!r}")
    if value < 0:
        raise InvalidSchedule(f"{what} must be >= 0, got {value:g}s")
    return float(value)


_GOOD_QUEUES: set[str] = set()  # queue names already checked (a name's validity never changes)


def _checked_queue(name: Any) -> str:
    """``check_queue_name``, once per name: a per-call submit does not re-run the grammar."""
    if type(name) is str and name in _GOOD_QUEUES:
        return name
    checked = check_queue_name(name)
    if len(_GOOD_QUEUES) < 1024:
        _GOOD_QUEUES.add(checked)
    return checked


def task_limits(name: str, defaults: TaskDefaults, extra: Sequence[str]) -> list[str]:
    """The limits a record takes: the task's ``@task(limits=...)``, its own limit (named after it)
    when it declares ``rate=`` / ``concurrency=``, then the call's ``options(limits=...)``."""
    own = (name,) if defaults.rate is not None or defaults.concurrency is not None else ()
    if not own and not defaults.limits and not extra:  # the common case: nothing to check
        return NOTHING
    return list(check_limit_names((*defaults.limits, *own, *extra)))


#: what ``build`` shares record fields for: plain functions and task names (see _build_shared)
_SHAREABLE = frozenset({FunctionType, str})


class _Ids:
    """Random task ids (128 bits, hex), cut from one ``os.urandom`` read of many ids: a system call
    per id is a noticeable share of a submit. A forked child starts a fresh buffer (never its
    parent's ids)."""

    SIZE = 16 * 256

    def __init__(self) -> None:
        self.buf = b""
        self.at = 0
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.buf, self.at = b"", 0

    def __call__(self) -> str:
        at = self.at
        if at >= len(self.buf):
            self.buf, at = os.urandom(self.SIZE), 0
        self.at = at + 16
        return self.buf[at : at + 16].hex()


new_task_id = _Ids()


@dataclass(frozen=True, slots=True)
class _Shared:
    """The fields every record of one function (or one task name) shares, for one Submitter:
    valid while it is still registered as ``spec`` (None: a name registered nowhere here) and the
    queue's retry policy and default queue are the ones they were computed with."""

    name: str
    spec: TaskSpec | None
    policy: RetryPolicy
    default_queue: str
    rest: tuple[Any, ...]


class Submitter:
    """Submit/schedule methods bound to a queue and a set of options."""

    def __init__(self, queue: TaskQueue, options: TaskOptions | None = None) -> None:
        self._q = queue
        self._options = options or TaskOptions()
        self._limits: PayloadLimits = queue.payload_limits
        #: per plain function or task name submitted through here: what every record of it
        #: shares (see _build_shared)
        self._shared: dict[Callable[..., Any] | str, _Shared] = {}
        o = self._options
        # options under which a function's records differ only in id and arguments
        self._shareable = o.task_id is None and o.unique_for is None and o.debounce is None and not o.depends_on

    # -- building records ------------------------------------------------------------------
    def _resolve(self, task: TaskRef) -> tuple[str, TaskDefaults, list[Any], dict[str, Any]]:
        q = self._q
        pre_args: list[Any] = []
        pre_kwargs: dict[str, Any] = {}
        if isinstance(task, str):
            name = task.strip()
            if not (NAME_RE.match(name) or name.startswith(LOCAL_PREFIX)):
                raise InvalidTask(f"task name {task!r} must look like 'module:function'")
            if name in q.registry:
                return name, q.registry.get(name).defaults, pre_args, pre_kwargs
            if q.runs_tasks and q.storage.supports_local_callables:
                raise UnknownTask(name, "register it with @task and queue.register(), or pass the function")
            return name, _UNKNOWN, pre_args, pre_kwargs
        func: Any = task
        while isinstance(func, functools.partial):
            pre_args = list(func.args) + pre_args
            pre_kwargs = {**func.keywords, **pre_kwargs}
            func = func.func
        if not callable(func) or isinstance(func, type):
            raise InvalidTask(f"a task must be a function or a 'module:function' name, got {task!r}")
        spec = q.registry.register(func)
        if spec.name.startswith(LOCAL_PREFIX) and not q.storage.supports_local_callables:
            raise InvalidTask(
                f"{getattr(func, '__qualname__', func)!r} is a lambda, closure or __main__ function: a worker "
                f"in another process cannot find it by name. Define it at module level in an importable "
                f"module (and register it with @task), or submit it by its 'module:function' name."
            )
        return spec.name, spec.defaults, pre_args, pre_kwargs

    def build(
        self,
        task: TaskRef,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        delay: float | None = None,
        run_at: float | None = None,
        recurring_id: str | None = None,
    ) -> TaskRecord:
        if self._shareable and delay is None and run_at is None and recurring_id is None and type(task) in _SHAREABLE:
            return self._build_shared(task, args, kwargs)
        return self._build(task, args, kwargs, delay=delay, run_at=run_at, recurring_id=recurring_id)

    def _build(
        self,
        task: TaskRef,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        delay: float | None = None,
        run_at: float | None = None,
        recurring_id: str | None = None,
    ) -> TaskRecord:
        name, defaults, pre_args, pre_kwargs = self._resolve(task)
        all_args = [*pre_args, *args] if args or pre_args else NOTHING
        all_kwargs = {**pre_kwargs, **kwargs}
        check_args(all_args, all_kwargs, self._limits)
        o = self._options
        policy = o.retry or defaults.retry or self._q.retry_policy
        # a task known here only by name: its own @task retry policy and timeout are the worker's
        # to apply (retry None = "the worker decides"); an explicit per-call option still wins
        worker_decides = defaults is _UNKNOWN and o.retry is None
        scheduled = delay is not None or run_at is not None
        unique = self._uniqueness(name, all_args, all_kwargs, scheduled)
        if unique.get("debounce") is not None:  # it runs `debounce` seconds after the last submit
            delay, scheduled = unique["debounce"], True
        rec = TaskRecord(
            id=o.task_id or new_task_id(),
            name=name,
            args=all_args,
            kwargs=all_kwargs,
            status=TaskStatus.SCHEDULED if scheduled else TaskStatus.PENDING,
            queue=o.queue or _checked_queue(defaults.queue or self._q.default_queue),
            priority=o.priority if o.priority is not None else (defaults.priority or 0),
            max_retries=policy.max_retries,
            retry=None if worker_decides else self._q.policy_dict(policy),
            timeout=o.timeout if o.timeout is not None else defaults.timeout,
            run_at=run_at or 0.0,
            delay=delay,
            recurring_id=recurring_id,
            secret=o.secret if o.secret is not None else defaults.secret,
            limits=task_limits(name, defaults, o.limits),
            result_ttl=o.result_ttl if o.result_ttl is not None else defaults.result_ttl,  # type: ignore[arg-type]
            **unique,
        )
        if o.depends_on:
            rec.parents = list(o.depends_on)
            rec.on_parent_failure = o.on_parent_failure
        return rec

    def _build_shared(
        self, task: Callable[..., Any] | str, args: Sequence[Any], kwargs: dict[str, Any], owned: bool = False
    ) -> TaskRecord:
        """``build`` of a plain function or a task name, submitted now, with options that give each
        of its records the same fields but id and arguments: those fields are computed once, by the
        general path (the first record), and checked still valid (same registration, policy,
        default queue). ``owned``: ``kwargs`` is the call's own fresh dict (``submit``'s
        ``**kwargs``), kept as is."""
        q = self._q
        shared = self._shared.get(task)
        if (
            shared is not None
            and self._spec(task, shared.name) is shared.spec
            and q.retry_policy is shared.policy
            and q.default_queue == shared.default_queue
            and (shared.spec is not None or not q.runs_tasks)  # (see _resolve: it may be refused now)
        ):
            all_args = [*args] if args else NOTHING
            if args or kwargs:
                check_args(all_args, kwargs, self._limits)
            return TaskRecord(new_task_id(), shared.name, all_args, kwargs if owned else {**kwargs}, *shared.rest)
        rec = self._build(task, args, kwargs)
        if len(self._shared) < 256 and not rec.limits:  # (a list of limits is not shared between records)
            # every field after id, name, args and kwargs, in field order: as this first record has them
            rest = tuple(getattr(rec, f.name) for f in fields(TaskRecord)[4:])
            spec = self._spec(task, rec.name)
            self._shared[task] = _Shared(rec.name, spec, q.retry_policy, q.default_queue, rest)
        return rec

    def _spec(self, task: Callable[..., Any] | str, name: str) -> TaskSpec | None:
        """What ``task`` is registered as now: a function's spec, or the spec of the name a task
        name stands for (None when no function is registered under it here)."""
        registry = self._q.registry
        if isinstance(task, str):
            return registry.find(name)
        return registry.spec_of(task)

    def _uniqueness(self, name: str, args: list[Any], kwargs: dict[str, Any], scheduled: bool) -> dict[str, Any]:
        o = self._options
        if o.unique_for is None and o.debounce is None:
            return {}
        key = digest(name, args, kwargs, o.unique_key)
        if o.debounce is None:
            return {"unique_key": key, "unique_for": o.unique_for}
        if scheduled:
            raise InvalidSchedule("debounce decides when the task runs: do not combine it with a delay or a time")
        # debounced: it runs `debounce` seconds after the last submit of its key
        return {"unique_key": key, "debounce": o.debounce}

    async def _put(self, records: list[TaskRecord]) -> list[str]:
        if tracing.active:  # the submit's trace context goes with each record (gdw_core.tracing)
            return await tracing.traced_put(records, lambda: self._store(records))
        return await self._store(records)

    async def _store(self, records: list[TaskRecord]) -> list[str]:
        q = self._q
        if q.closed:
            raise QueueClosed("the task queue is shut down; nothing was enqueued")
        if not q.opened:
            await q.open_storage()
        if self._options.expires is not None:  # on the storage's clock: one read, only for these
            now = await q.storage.now()
            for rec in records:
                due = rec.run_at or (now + rec.delay if rec.delay is not None else now)
                rec.expires_at = expires_at(self._options.expires, now, due)
        given = self._options.task_id
        if given is not None:
            # a caller-given id: look first, as the storage refuses an id only within its queue
            # (Redis keeps each queue under its own hash tag); the enqueue below catches a race
            existing = await q.storage.get(given)
            if existing is not None:
                return self._exists(given, existing.status)
        if self._options.depends_on:  # depends_on: one atomic step (gdw_core.workflow)
            await dependent_enqueue(q.storage, records)
            return [r.id for r in records]
        try:
            created = await q.storage.enqueue(records, q.queue_size)
        except QueueFull as full:
            created = await self._when_taken(records, full)
        if len(records) == 1 and created[0]:  # the per-call submit
            return [records[0].id]
        if given is not None and not all(created) and records[0].unique_key is None:
            existing = await q.storage.get(given)
            return self._exists(given, existing.status if existing is not None else "unreadable")
        ids = [r.id for r in records]
        for i, rec in enumerate(records):
            if not created[i] and rec.unique_key is not None:  # another task stands for it
                ids[i] = await self._unique_holder(rec)
        return ids

    async def _when_taken(self, records: list[TaskRecord], full: QueueFull) -> list[bool]:
        """The queue was full. When this process's own worker takes from it (TaskQueue.takes_here),
        it gets up to _TURNS turns of the event loop to take what waits (a loop of submits to
        memory storage never yields, so it had none), and the enqueue is tried after each; still
        full after them, or with no such worker: QueueFull, listing the tasks of a batch that any
        try enqueued."""
        q = self._q
        if not q.takes_here(records[0].queue):
            raise full
        got = set(full.enqueued)  # (a batch's tasks enqueued by an earlier try: each try skips them)
        for _ in range(_TURNS):
            await asyncio.sleep(0)
            try:
                return await q.storage.enqueue(records, q.queue_size)
            except QueueFull as exc:
                full = exc
                got.update(exc.enqueued)
        raise QueueFull(full.queue, full.limit, [r.id for r in records if r.id in got])

    async def _unique_holder(self, rec: TaskRecord) -> str:
        storage = self._q.storage
        for _ in range(3):  # the window may close between the enqueue and this read: try again
            holder = await storage.unique_holder(rec.queue, rec.unique_key or "")
            if holder is not None:
                return holder
            if (await storage.enqueue([rec], self._q.queue_size))[0]:
                return rec.id
        raise InvalidTask(f"task {rec.id}: its unique key keeps changing hands; nothing was enqueued")

    def _exists(self, task_id: str, status: str) -> list[str]:
        if self._options.if_exists == "skip":
            return [task_id]
        raise DuplicateTask(task_id, str(status))

    # -- the API ---------------------------------------------------------------------------
    async def submit(self, task: TaskRef, /, *args: Any, **kwargs: Any) -> str:
        """Run ``task(*args, **kwargs)`` as soon as a worker is free. Returns the task id.
        A caller-given task id that already exists raises :class:`DuplicateTask` (nothing is
        enqueued), or with ``options(if_exists="skip")`` returns that id: never a second task."""
        if self._shareable and type(task) in _SHAREABLE:  # (build's first branch, without the call)
            records = [self._build_shared(task, args, kwargs, owned=True)]
        else:
            records = [self.build(task, args, kwargs)]
        return (await (self._put(records) if tracing.active else self._store(records)))[0]

    async def submit_many(self, task: TaskRef, calls: Iterable[Sequence[Any] | dict[str, Any]], /) -> list[str]:
        """Submit one task per item of ``calls`` (an args tuple/list, or a kwargs dict) in one batch."""
        if self._options.task_id is not None:
            raise InvalidTask("submit_many cannot take a single task_id")
        records = []
        for i, call in enumerate(calls):
            try:
                if isinstance(call, dict):
                    records.append(self.build(task, (), call))
                else:
                    records.append(self.build(task, tuple(call), {}))
            except InvalidPayload as exc:  # the whole batch is refused, saying which call is bad
                raise InvalidPayload(f"submit_many call {i}: {exc}; nothing was enqueued") from exc
        return await self._put(records) if records else []

    async def schedule(self, task: TaskRef, delay: float | timedelta, /, *args: Any, **kwargs: Any) -> str:
        """Run after ``delay`` (seconds or a timedelta), measured on the storage's clock."""
        return (await self._put([self.build(task, args, kwargs, delay=seconds(delay))]))[0]

    async def schedule_at(self, task: TaskRef, when: datetime, /, *args: Any, **kwargs: Any) -> str:
        """Run at ``when`` (an aware datetime; a time already past runs at once)."""
        if not isinstance(when, datetime):
            raise InvalidSchedule(f"schedule_at needs a datetime, got {when!r}")
        if when.tzinfo is None:
            raise InvalidSchedule("schedule_at needs an aware datetime (give it a tzinfo, e.g. UTC)")
        return (await self._put([self.build(task, args, kwargs, run_at=when.timestamp())]))[0]

    async def schedule_recurring(
        self,
        task: TaskRef,
        /,
        *args: Any,
        interval: float | timedelta | None = None,
        cron: str | None = None,
        entry_id: str | None = None,
        allow_overlap: bool = False,
        start_now: bool = False,
        **kwargs: Any,
    ) -> str:
        """Run every ``interval`` (seconds / timedelta) or on a ``cron`` schedule (UTC). Returns the
        recurring entry id (``cancel_recurring`` stops it). A run still going when the next tick
        comes makes that tick skip, unless ``allow_overlap``."""
        if (interval is None) == (cron is None):
            raise InvalidSchedule("schedule_recurring needs exactly one of interval= or cron=")
        if self._options.expires is not None:
            raise InvalidSchedule("expires applies to one task, not to a recurring entry")
        probe = self.build(task, args, kwargs)
        every = None if interval is None else seconds(interval, "interval")
        if every is not None and every <= 0:
            raise InvalidSchedule("interval must be > 0")
        if cron is not None:
            cron = check_cron(cron)
        given = entry_id if entry_id is not None else self._options.task_id
        if given is not None:
            check_entry_id(given)
        q = self._q
        if q.closed:
            raise QueueClosed("the task queue is shut down")
        if not q.opened:
            await q.open_storage()
        now = await q.storage.now()
        entry = RecurringEntry(
            id=given or f"rec-{os.urandom(6).hex()}",
            name=probe.name,
            args=probe.args,
            kwargs=probe.kwargs,
            queue=probe.queue,
            interval=every,
            cron=cron,
            allow_overlap=allow_overlap,
            created_at=now,
            task_options={
                "priority": probe.priority,
                "max_retries": probe.max_retries,
                "retry": probe.retry,
                "timeout": probe.timeout,
                "secret": probe.secret,
            },
        )
        entry.next_run = now if start_now else entry.following(now, now)
        await q.storage.add_recurring(entry)
        return entry.id

    def options(self, **changes: Any) -> Submitter:
        return Submitter(self._q, replace(self._options, **changes))


async def dependent_enqueue(storage: Storage, records: list[TaskRecord]) -> None:
    """Tasks submitted with ``depends_on``: stored blocked, in one step (gdw_core.workflow)."""
    from gdw_core.workflow.dependency import enqueue_dependent

    await enqueue_dependent(storage, records)
