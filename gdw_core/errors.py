"""The exceptions gdw raises to its callers. Every one says what went wrong and what to do."""

from __future__ import annotations

from collections.abc import Sequence


class GdwError(Exception):
    """Base class of every error gdw raises on purpose."""


class QueueFull(GdwError):
    """The queue already holds ``queue_size`` waiting tasks. A single submit enqueued nothing; of a
    batch (``submit_many``), ``enqueued`` lists the ids of its tasks that were enqueued before the
    queue filled (the others were not), and the message says how many."""

    def __init__(self, queue: str, limit: int, enqueued: Sequence[str] = ()) -> None:
        if enqueued:
            what = f"{len(enqueued)} of the tasks were enqueued before it filled (ids in .enqueued), the rest were not"
        else:
            what = "nothing was enqueued"
        super().__init__(f"queue {queue!r} is full ({limit} tasks waiting); {what}")
        self.queue = queue
        self.limit = limit
        self.enqueued: list[str] = list(enqueued)


class DuplicateTask(GdwError):
    """A task with the caller-given id already exists; nothing was enqueued (the existing task is
    left as it is). ``options(if_exists="skip")`` returns the existing id instead."""

    def __init__(self, task_id: str, status: str) -> None:
        super().__init__(
            f"a task with id {task_id!r} already exists ({status}); nothing was enqueued "
            f"(use another id, or if_exists='skip' to get the existing one)"
        )
        self.task_id = task_id
        self.status = status


class QueueNotFound(GdwError, LookupError):
    """A queue no task, worker or pause ever used; asked to act on it without ``create``."""

    def __init__(self, queue: str) -> None:
        super().__init__(
            f"no queue named {queue!r}: it has no tasks and no worker serves it (create=True / --create makes it)"
        )
        self.queue = queue

    def __str__(self) -> str:
        return str(self.args[0])


class QueueClosed(GdwError):
    """The task queue was shut down (or never started where starting is required)."""


class TaskNotFound(GdwError, KeyError):
    """No record with this id: it never existed here, or it finished and retention deleted it
    (``Retention``: the newest finished tasks kept by count, each for a time)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(
            f"no task with id {task_id!r}: it was never submitted to this storage, or it finished and "
            "retention has deleted its record (Retention keeps the newest finished tasks, by count and age)"
        )
        self.task_id = task_id

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownTask(GdwError, LookupError):
    """A task name that is not registered (not in this worker's allowlist)."""

    def __init__(self, name: str, detail: str = "") -> None:
        msg = f"unknown task {name!r}: it is not registered"
        super().__init__(msg + (f" ({detail})" if detail else ""))
        self.name = name


class InvalidTask(GdwError, ValueError):
    """What was given as a task cannot be one (not callable, a lambda sent to Redis, bad name...)."""


class InvalidSchedule(GdwError, ValueError):
    """A delay, time, interval or cron expression that cannot be used."""


class InvalidPayload(GdwError, ValueError):
    """Arguments, a result or a stored record that is not valid JSON of the expected shape."""


class InvalidTransition(GdwError):
    """A state change that the transition table forbids."""

    def __init__(self, task_id: str, old: str, new: str) -> None:
        super().__init__(f"task {task_id}: {old} -> {new} is not an allowed transition")
        self.task_id = task_id
        self.old = old
        self.new = new


class TaskFailed(GdwError):
    """Raised by ``TaskQueue.result`` when the task ended failed or cancelled."""

    def __init__(self, task_id: str, status: str, error: str | None) -> None:
        super().__init__(f"task {task_id} {status}" + (f": {error}" if error else ""))
        self.task_id = task_id
        self.status = status
        self.error = error


class StorageUnavailable(GdwError, ConnectionError):
    """The storage (Redis) cannot be reached; says which address."""


class QueueRefused(GdwError):
    """A queue's own keys refused a worker's write (one of them holds a key of another type): nothing
    of it was written. The worker keeps the outcome and sends it again until it lands (once the
    queue is repaired: ``gdw repair --queue QUEUE``)."""

    def __init__(self, queue: str, message: str) -> None:
        super().__init__(message)
        self.queue = queue


class Retry(Exception):
    """Raise inside a task to ask for another attempt, optionally after ``delay`` seconds.

    Counts as an attempt and respects ``max_retries``; ``delay`` overrides the policy's backoff.
    """

    def __init__(self, delay: float | None = None, reason: str = "retry requested by the task") -> None:
        super().__init__(reason)
        if delay is not None and delay < 0:
            raise InvalidSchedule(f"Retry delay must be >= 0, got {delay}")
        self.delay = delay


class SkipRetry(Exception):
    """Raise inside a task to fail it now, without further retries."""


class Interrupted(Exception):
    """Recorded as an attempt's error when shutdown or a lost lease cut the attempt short."""


class TaskTimeout(TimeoutError):
    """Recorded as an attempt's error when the task ran past its timeout."""


class TaskCancelled(Exception):
    """Recorded when an operator cancelled a running task."""
