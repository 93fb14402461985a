"""Acting on many tasks at once: the filter model and the bounded-batch driver.

A bulk action (``retry``, ``cancel``, ``purge``, or ``count`` for a dry run) walks one state's index,
queue by queue, in batches of at most :data:`BATCH` tasks: each batch is ONE storage step (one Lua
script on Redis) that re-checks every task against the filter and acts on it, so no single step
ever spans a million tasks and a task that changed meanwhile is skipped with its reason. The walk
is bounded by a snapshot taken when it starts (:class:`Cursor`), so a task that a worker re-runs
and that fails again while the walk goes on is not re-run a second time.

Per-item isolation: a record that cannot be read is reported ``skipped`` with its reason; the rest
of the batch proceeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from gdw_core.limits import check_queue_name
from gdw_core.status import LEASED, TERMINAL, WAITING, TaskStatus

if TYPE_CHECKING:
    from gdw_core.storage.protocol import Storage

log = logging.getLogger(__name__)

#: tasks per storage step
BATCH = 500


class Action(StrEnum):
    RETRY = "retry"  # failed / cancelled: re-run (fresh budget); scheduled / retrying: due now
    CANCEL = "cancel"  # waiting: cancelled; claimed / running: cancel requested
    PURGE = "purge"  # finished: deleted with its result
    COUNT = "count"  # change nothing: how many match (--dry-run)


class BulkError(ValueError):
    """A bulk request that cannot be run as asked (no state for purge, a state it cannot act on)."""


#: the states each action may act on (anything else is refused before any batch runs)
ACTS_ON: dict[Action, frozenset[TaskStatus]] = {
    Action.RETRY: frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.SCHEDULED, TaskStatus.RETRYING}),
    # waiting ones are cancelled at once, leased ones get a cancel request (their worker stops them)
    Action.CANCEL: WAITING | LEASED,
    Action.PURGE: TERMINAL,
    Action.COUNT: frozenset(TaskStatus),
}


@dataclass(frozen=True, slots=True)
class Filter:
    """Which tasks: one state, optionally one queue and one task name, and a time window on the
    task's "when" (finished_at for finished tasks, created_at otherwise), in storage epoch seconds:
    ``since`` <= when <= ``before``."""

    state: TaskStatus
    queue: str | None = None
    name: str | None = None
    since: float | None = None
    before: float | None = None

    def check(self, action: Action) -> None:
        if self.queue is not None:
            check_queue_name(self.queue)
        if self.state not in ACTS_ON[action]:
            can = ", ".join(sorted(s.value for s in ACTS_ON[action]))
            raise BulkError(f"{action} does not act on {self.state} tasks (it acts on: {can})")


def when_of(state: TaskStatus, created_at: float, finished_at: float | None) -> float:
    """The time a filter's window applies to (the same rule on every backend)."""
    if state in TERMINAL:
        return finished_at or 0.0
    return created_at


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a walk over one queue's index stands. ``lo``/``hi`` are the backend's index positions
    (Redis: zset scores as text), ``ties`` the tasks left in place at exactly ``lo``."""

    lo: str = "-inf"
    ties: int = 0
    hi: str = ""  # "" = not started: the storage snapshots its upper bound


@dataclass(frozen=True, slots=True)
class Item:
    task_id: str
    done: bool
    reason: str = ""  # what was done ("rerun", "due now", "cancelled", ...) or why it was skipped


@dataclass(frozen=True, slots=True)
class Batch:
    items: list[Item]
    next: Cursor | None  # None: this queue is walked to its end


@dataclass(slots=True)
class Summary:
    action: Action
    done: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> how many
    queues: int = 0
    #: queue -> why its walk stopped (the other queues are walked all the same)
    failed_queues: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.done + sum(self.skipped.values())

    def add(self, items: list[Item]) -> None:
        for item in items:
            if item.done:
                self.done += 1
            else:
                self.skipped[item.reason] += 1

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "action": str(self.action),
            "done": self.done,
            "skipped": dict(self.skipped),
            "matched": self.total,
        }
        if self.failed_queues:
            doc["failed_queues"] = dict(self.failed_queues)
        return doc


Progress = Callable[[Summary], Awaitable[None] | None]


async def queues_for(storage: Storage, flt: Filter) -> list[str]:
    if flt.queue is not None:
        return [flt.queue]
    return sorted(q.name for q in await storage.queues())


async def run(
    storage: Storage, action: Action, flt: Filter, progress: Progress | None = None, batch: int = BATCH
) -> Summary:
    """Walk every queue the filter names in bounded batches, acting on each matching task. A queue
    whose walk fails (its step raised) is logged and recorded in ``failed_queues``; the other
    queues proceed."""
    flt.check(action)
    summary = Summary(action)
    for queue in await queues_for(storage, flt):
        summary.queues += 1
        try:
            await _walk(storage, action, flt, queue, summary, progress, batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one queue's failure never stops the others
            log.error("bulk %s: queue %r stopped: %s", action, queue, exc)
            summary.failed_queues[queue] = f"{type(exc).__name__}: {exc}"
    return summary


async def _walk(
    storage: Storage, action: Action, flt: Filter, queue: str, summary: Summary, progress: Progress | None, batch: int
) -> None:
    cursor: Cursor | None = Cursor()
    while cursor is not None:
        step = await storage.bulk(action, flt, queue, cursor, batch)
        summary.add(step.items)
        cursor = step.next
        if progress is not None:
            res = progress(summary)
            if res is not None:
                await res


async def expected(storage: Storage, flt: Filter) -> int:
    """Upper bound of how many tasks a walk meets (for a progress bar's total): the state's count."""
    counts = await storage.counts(flt.queue)
    return int(counts.get(flt.state, 0))


#: tasks acted on at once by :func:`run_ids` (concurrent one-id steps)
IDS_AT_ONCE = 50


async def run_ids(
    storage: Storage, action: Action, ids: list[str], progress: Progress | None = None, batch: int = IDS_AT_ONCE
) -> Summary:
    """Act on the tasks named by ``ids`` (an operator's selection), ``batch`` at a time, each one
    storage step (:meth:`Storage.act_on`) that re-checks the task's state: a task that moved on,
    vanished or cannot be read is skipped with its reason; an error acting on one task is that
    task's reason, never the others'. ``ids`` is bounded by whoever made the selection."""
    summary = Summary(action)
    unique = list(dict.fromkeys(ids))
    for at in range(0, len(unique), max(1, batch)):
        part = unique[at : at + max(1, batch)]
        got = await asyncio.gather(*(storage.act_on(action, i) for i in part), return_exceptions=True)
        items: list[Item] = []
        for task_id, res in zip(part, got, strict=True):
            if isinstance(res, asyncio.CancelledError):
                raise res
            if isinstance(res, BaseException):
                log.error("bulk %s: task %r: %s", action, task_id, res)
                items.append(Item(task_id, False, f"{type(res).__name__}: {res}"))
            else:
                items.append(res)
        summary.add(items)
        if progress is not None:
            told = progress(summary)
            if told is not None:
                await told
    return summary
