"""The task record: everything stored about one task, and its JSON form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gdw_core.errors import InvalidPayload
from gdw_core.status import TaskStatus

DEFAULT_QUEUE = "default"


class EmptyList(list):  # type: ignore[type-arg]
    """The one shared, always-empty list a record's list fields start as (``NOTHING``).

    A record's ``args``, ``errors``, ``parents``, ``children`` and ``limits`` are usually empty;
    one list object per field per record would be five more objects the cyclic garbage collector
    walks for every record kept (the embedded queue keeps thousands). It compares, encodes and
    iterates like ``[]``; it refuses in-place changes (append, extend...): assign a new list to the
    field instead (``rec.errors = [*rec.errors, error]``, or :meth:`TaskRecord.add_error`).
    ``+=`` works and gives a new list."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this is a record's shared empty list: assign a new list to the field instead of changing it")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __imul__ = _refuse

    def __iadd__(self, other: Any) -> Any:  # type: ignore[misc]  # ``rec.parents += [...]`` rebinds the field to a new list
        return [*other]

    def __hash__(self) -> int:  # type: ignore[override]  # immutable (which also lets a dataclass take it as a default)
        return 0

    def __repr__(self) -> str:
        return "[]"

    def __reduce__(self) -> Any:
        return (_nothing, ())


#: the shared empty list of every record field that has nothing (see :class:`EmptyList`)
NOTHING: list[Any] = EmptyList()


def _nothing() -> list[Any]:
    return NOTHING


@dataclass(slots=True)
class AttemptError:
    """Why one attempt failed."""

    attempt: int
    type: str
    message: str
    traceback: str
    at: float  # epoch seconds
    worker: str | None = None
    #: False for an interruption that did not spend the attempt (a graceful drain's release)
    counted: bool = True

    def to_dict(self) -> dict[str, Any]:
        out = {
            "attempt": self.attempt,
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "at": self.at,
            "worker": self.worker,
        }
        if not self.counted:
            out["counted"] = False
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptError:
        return cls(
            attempt=int(data.get("attempt", 0)),
            type=str(data.get("type", "Error")),
            message=str(data.get("message", "")),
            traceback=str(data.get("traceback", "")),
            at=float(data.get("at", 0.0)),
            worker=None if data.get("worker") is None else str(data["worker"]),
            counted=data.get("counted", True) is not False,
        )

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@dataclass(slots=True)
class TaskRecord:
    """One task. Times are epoch seconds (UTC); ``None`` means "not yet"."""

    id: str
    name: str
    args: list[Any] = NOTHING
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: TaskStatus = TaskStatus.PENDING
    queue: str = DEFAULT_QUEUE
    priority: int = 0  # higher runs first within a queue
    attempts: int = 0  # attempts started so far
    max_retries: int = 3
    retry: dict[str, Any] | None = None  # RetryPolicy.to_dict() of this task, None = the worker's default
    timeout: float | None = None
    created_at: float = 0.0
    run_at: float = 0.0  # when it becomes (or became) due; for retrying tasks, the next retry time
    started_at: float | None = None
    finished_at: float | None = None
    worker: str | None = None
    result: Any = None
    errors: list[AttemptError] = NOTHING
    recurring_id: str | None = None
    progress: Any = None
    secret: bool = False  # redact args in logs and the dashboard
    cancel_requested: bool = False
    #: the W3C trace context of the submit (gdw_core.tracing; None when tracing is off)
    traceparent: str | None = None
    #: at enqueue only (never stored): run this many seconds after the storage's "now"
    delay: float | None = None
    # -- workflow (gdw_core.workflow): all empty for a task outside a workflow -------------------
    workflow: str | None = None  # the id of the workflow it was submitted in
    parents: list[str] = NOTHING  # ids it waits for (blocked until satisfied)
    children: list[str] = NOTHING  # ids that wait for it
    #: what it receives from its first ``feeds`` parents when it becomes pending: "" nothing,
    #: "one" that parent's result as its first argument, "list" the list of their results (in order)
    takes: str = ""
    feeds: int = 0
    #: a parent failed for good or was cancelled: "cancel" this task (default) or "run" it anyway
    on_parent_failure: str = "cancel"
    cancelled_by: str | None = None  # the parent whose failure cancelled it
    waiting: int = 0  # parents not yet satisfied (while blocked)
    #: the named limits it takes (gdw_core.flow): a claim starts it only within all of them
    limits: list[str] = NOTHING
    #: while throttled: which limit holds it back and why (its run_at is when it is tried again)
    throttled_by: str | None = None
    #: not started by then (epoch seconds) -> never run: cancelled with detail "expired" (gdw_core.flow)
    expires_at: float | None = None
    #: uniqueness over time (gdw_core.flow.uniqueness): the key's digest and its window or debounce
    unique_key: str | None = None
    unique_for: float | None = None
    debounce: float | None = None
    #: a completed task (and its result) is deleted this many seconds after it finished, when that
    #: is sooner than the storage-wide retention (gdw_core.flow)
    result_ttl: float | None = None

    def add_error(self, error: AttemptError) -> None:
        """Record one attempt's error (``errors`` may be the shared empty list: never appended to)."""
        errors = self.errors
        if type(errors) is list:
            errors.append(error)
        else:
            self.errors = [*errors, error]

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    @property
    def last_error(self) -> AttemptError | None:
        return self.errors[-1] if self.errors else None

    @property
    def next_retry_at(self) -> float | None:
        return self.run_at if self.status is TaskStatus.RETRYING else None

    def when(self, attr: str) -> datetime | None:
        """A timestamp field as an aware UTC datetime (``record.when("created_at")``)."""
        value = getattr(self, attr)
        return None if value is None else datetime.fromtimestamp(value, UTC)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "args": self.args,
            "kwargs": self.kwargs,
            "status": str(self.status),
            "queue": self.queue,
            "priority": self.priority,
            "attempts": self.attempts,
            "max_retries": self.max_retries,
            "retry": self.retry,
            "timeout": self.timeout,
            "created_at": self.created_at,
            "run_at": self.run_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "worker": self.worker,
            "result": self.result,
            "errors": [e.to_dict() for e in self.errors],
            "recurring_id": self.recurring_id,
            "progress": self.progress,
            "secret": self.secret,
            "cancel_requested": self.cancel_requested,
            "traceparent": self.traceparent,
            **({"limits": list(self.limits)} if self.limits else {}),
            **({"throttled_by": self.throttled_by} if self.throttled_by else {}),
            **({"expires_at": self.expires_at} if self.expires_at is not None else {}),
            **({"unique_key": self.unique_key} if self.unique_key is not None else {}),
            **({"unique_for": self.unique_for} if self.unique_for is not None else {}),
            **({"debounce": self.debounce} if self.debounce is not None else {}),
            **({"result_ttl": self.result_ttl} if self.result_ttl is not None else {}),
            **self._workflow_dict(),
        }

    def _workflow_dict(self) -> dict[str, Any]:
        if self.workflow is None and not self.parents and not self.children:
            return {}
        return {
            "workflow": self.workflow,
            "parents": self.parents,
            "children": self.children,
            "takes": self.takes,
            "feeds": self.feeds,
            "on_parent_failure": self.on_parent_failure,
            "cancelled_by": self.cancelled_by,
            "waiting": self.waiting,
        }

    @classmethod
    def from_dict(cls, data: Any) -> TaskRecord:
        """Build a record from its JSON form; anything malformed raises :class:`InvalidPayload`."""
        if not isinstance(data, Mapping):
            raise InvalidPayload(f"a task record must be a JSON object, got {type(data).__name__}")
        try:
            task_id = data["id"]
            name = data["name"]
            if not isinstance(task_id, str) or not isinstance(name, str):
                raise InvalidPayload("task id and name must be strings")
            args = data.get("args", [])
            kwargs = data.get("kwargs", {})
            if not isinstance(args, list):
                raise InvalidPayload(f"args must be a JSON array, got {type(args).__name__}")
            if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
                raise InvalidPayload("kwargs must be a JSON object")
            timeout = data.get("timeout")
            retry = data.get("retry")
            if retry is not None and not isinstance(retry, dict):
                raise InvalidPayload("retry must be a JSON object or null")
            limits = data.get("limits") or []
            if not isinstance(limits, list) or not all(isinstance(n, str) for n in limits):
                raise InvalidPayload("limits must be a JSON array of limit names")
            return cls(
                id=task_id,
                name=name,
                args=args,
                kwargs=kwargs,
                status=TaskStatus(data.get("status", "pending")),
                queue=str(data.get("queue", DEFAULT_QUEUE)),
                priority=int(data.get("priority", 0)),
                attempts=int(data.get("attempts", 0)),
                max_retries=int(data.get("max_retries", 3)),
                retry=retry,
                timeout=None if timeout is None else float(timeout),
                created_at=float(data.get("created_at", 0.0)),
                run_at=float(data.get("run_at", 0.0)),
                started_at=_opt_float(data.get("started_at")),
                finished_at=_opt_float(data.get("finished_at")),
                worker=None if data.get("worker") is None else str(data["worker"]),
                result=data.get("result"),
                errors=[AttemptError.from_dict(e) for e in data.get("errors") or []],
                recurring_id=None if data.get("recurring_id") is None else str(data["recurring_id"]),
                progress=data.get("progress"),
                secret=bool(data.get("secret", False)),
                cancel_requested=bool(data.get("cancel_requested", False)),
                traceparent=_traceparent(data.get("traceparent")),
                workflow=None if data.get("workflow") is None else str(data["workflow"]),
                parents=[str(p) for p in data.get("parents") or []],
                children=[str(c) for c in data.get("children") or []],
                takes=str(data.get("takes") or ""),
                feeds=int(data.get("feeds") or 0),
                on_parent_failure=str(data.get("on_parent_failure") or "cancel"),
                cancelled_by=None if data.get("cancelled_by") is None else str(data["cancelled_by"]),
                waiting=int(data.get("waiting") or 0),
                limits=limits,
                throttled_by=None if data.get("throttled_by") is None else str(data["throttled_by"]),
                expires_at=_opt_float(data.get("expires_at")),
                unique_key=None if data.get("unique_key") is None else str(data["unique_key"]),
                unique_for=_opt_float(data.get("unique_for")),
                debounce=_opt_float(data.get("debounce")),
                result_ttl=_opt_float(data.get("result_ttl")),
            )
        except InvalidPayload:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidPayload(f"malformed task record: {exc!r}") from exc


#: W3C traceparent: version, trace id, parent id, flags (lower-case hex)
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def _traceparent(value: Any) -> str | None:
    """A stored trace context, or None when absent or malformed (it never fails the task)."""
    if isinstance(value, str) and len(value) == 55 and _TRACEPARENT.fullmatch(value):
        return value
    return None


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
