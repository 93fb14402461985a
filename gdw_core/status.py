"""Task states and the one table of allowed transitions.

Every backend checks a transition against :data:`TRANSITIONS` (the Redis Lua scripts carry the same
table, and a test keeps the two in step). A terminal state has no way out.
"""

from __future__ import annotations

from enum import StrEnum

from gdw_core.errors import InvalidTransition


class TaskStatus(StrEnum):
    """Where a task is in its life. ``str(status)`` gives the plain name (``"pending"``)."""

    SCHEDULED = "scheduled"  # waiting for its run-at time (delay, at-time, recurring tick)
    PENDING = "pending"  # ready to be claimed
    CLAIMED = "claimed"  # leased to one worker, waiting in its buffer for a free slot (not started)
    RUNNING = "running"  # started by the worker that holds its lease
    RETRYING = "retrying"  # an attempt failed; waiting for its backoff to elapse
    THROTTLED = "throttled"  # held back by a rate or concurrency limit until it may start (gdw_core.flow)
    COMPLETED = "completed"
    FAILED = "failed"  # retries exhausted, non-retryable error, or poison
    CANCELLED = "cancelled"
    BLOCKED = "blocked"  # a workflow node waiting for its parents (gdw_core.workflow)

    @property
    def terminal(self) -> bool:
        """Finished: no worker will touch it again (an operator may still re-run a failed or
        cancelled one)."""
        return self in TERMINAL


TERMINAL: frozenset[TaskStatus] = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

#: status -> the statuses it may move to. Nothing else is allowed, anywhere.
#: ``-> failed`` from a waiting state is for records that cannot be read (InvalidPayload): they
#: fail alone, with their reason, wherever they are found. ``claimed -> pending`` hands back a
#: task that never started (a draining worker's buffer, a lost lease before the start): no attempt
#: was spent. ``claimed -> completed/failed/...`` is a task whose start mark and outcome were sent
#: together (a fast task finishing before its start mark was flushed). ``failed/cancelled -> pending``
#: is only an operator's re-run (gdw_core.lifecycle.attempts_after_rerun); nothing else leaves a
#: finished state, and ``completed`` never does.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.SCHEDULED: frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.PENDING: frozenset({TaskStatus.CLAIMED, TaskStatus.THROTTLED, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    # a claim found it over one of its limits: it waits, and is promoted back to pending when due
    TaskStatus.THROTTLED: frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.CLAIMED: frozenset(
        {
            TaskStatus.RUNNING,
            TaskStatus.PENDING,
            TaskStatus.COMPLETED,
            TaskStatus.RETRYING,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
        }
    ),
    TaskStatus.RUNNING: frozenset({TaskStatus.COMPLETED, TaskStatus.RETRYING, TaskStatus.FAILED, TaskStatus.CANCELLED}),
    TaskStatus.RETRYING: frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.COMPLETED: frozenset(),
    # a re-run (an operator's retry of a failed or cancelled task): same id, history kept
    TaskStatus.FAILED: frozenset({TaskStatus.PENDING}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.PENDING, TaskStatus.BLOCKED}),
    # a workflow node: pending once every parent is satisfied, cancelled when a parent failed for
    # good (or was cancelled), failed when its record cannot be read. ``cancelled -> blocked`` is
    # the revival of a node cancelled because of a parent that an operator re-runs.
    TaskStatus.BLOCKED: frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
}

#: the statuses a task is created in
INITIAL: frozenset[TaskStatus] = frozenset({TaskStatus.SCHEDULED, TaskStatus.PENDING, TaskStatus.BLOCKED})

#: the statuses that hold a lease (a worker owns the task)
LEASED: frozenset[TaskStatus] = frozenset({TaskStatus.CLAIMED, TaskStatus.RUNNING})

#: waiting for a worker (or for its time)
WAITING: frozenset[TaskStatus] = frozenset(
    {TaskStatus.SCHEDULED, TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.BLOCKED, TaskStatus.THROTTLED}
)


def can_move(old: TaskStatus, new: TaskStatus) -> bool:
    return new in TRANSITIONS[old]


def check_transition(task_id: str, old: TaskStatus, new: TaskStatus) -> None:
    """Raise :class:`InvalidTransition` unless ``old -> new`` is in the table."""
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(task_id, str(old), str(new))
