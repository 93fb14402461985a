"""A bulk action from the dashboard: what it acts on (picked ids, or all matching a scope), how
many that is (counted in storage), running it through the engine's bulk API in bounded batches,
and the words of its summary (done, skipped with reasons)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gdw_core import bulk as B
from gdw_core.queue import TaskQueue
from gdw_core.views import matching_ids
from gdw_tui.actions import Outcome, Severity
from gdw_tui.selection import Scope

#: the most tasks "all matching a filter" collects (a filter is evaluated by walking the state)
MAX_MATCHING = 100_000

#: the action's name on screen, and what it does
WORDS: dict[B.Action, tuple[str, str]] = {
    B.Action.RETRY: (
        "Retry",
        "failed and cancelled tasks re-run under their ids (history kept, a fresh attempt budget); "
        "scheduled and retrying ones become due now",
    ),
    B.Action.CANCEL: ("Cancel", "waiting tasks are cancelled at once; claimed and running ones are asked to stop"),
    B.Action.PURGE: ("Purge", "finished tasks are deleted with their results; this cannot be undone"),
}


@dataclass(frozen=True, slots=True)
class Plan:
    action: B.Action
    ids: tuple[str, ...] = ()  # picked rows (used when scope is None)
    scope: Scope | None = None

    def what(self) -> str:
        if self.scope is not None:
            return self.scope.words()
        return f"task {self.ids[0]}" if len(self.ids) == 1 else "the picked tasks"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A plan with its count from storage. ``ids`` is None when the engine walks the scope itself
    (no filter: :meth:`Controller.bulk` over the state's index)."""

    plan: Plan
    count: int
    ids: list[str] | None
    #: False: more than MAX_MATCHING matched; only the first MAX_MATCHING are acted on
    complete: bool = True

    def question(self) -> str:
        verb, effect = WORDS[self.plan.action]
        n = f"{self.count}" + ("" if self.complete else "+")
        head = f"{verb} {n} task{'s' if self.count != 1 else ''}: {self.plan.what()}?"
        tail = "" if self.complete else f"\nOnly the first {self.count} found are acted on; run it again for the rest."
        return f"{head}\n{effect}.{tail}"


async def prepare(queue: TaskQueue, plan: Plan, counting: Callable[[int, int], object] | None = None) -> Prepared:
    """Count what the plan acts on, in storage (``counting(looked_at, matched)`` while a filter is
    walked). BulkError when the action cannot act on the scope's state (nothing changed)."""
    scope = plan.scope
    if scope is None:
        return Prepared(plan, len(plan.ids), list(plan.ids))
    B.Filter(scope.state, scope.queue).check(plan.action)
    flt = scope.filter
    if flt is None or flt.empty:
        counts = await queue.inspect.counts(scope.queue)
        return Prepared(plan, int(counts.get(scope.state, 0)), None)
    if scope.queue is not None and flt.queue is None:
        flt = dataclasses.replace(flt, queue=scope.queue)
    found = await matching_ids(queue.storage, scope.state, flt, MAX_MATCHING, progress=counting)
    return Prepared(plan, len(found.ids), found.ids, found.complete)


Tick = Callable[[B.Summary], Awaitable[None] | None]


async def execute(queue: TaskQueue, prepared: Prepared, progress: Tick | None = None) -> B.Summary:
    plan = prepared.plan
    if prepared.ids is not None:
        return await queue.control.bulk_ids(plan.action, prepared.ids, progress)
    scope = plan.scope
    assert scope is not None
    return await queue.control.bulk(plan.action, B.Filter(scope.state, scope.queue), progress)


def outcome(summary: B.Summary) -> Outcome:
    """The truthful summary: how many were done, how many skipped and why, queues that stopped."""
    verb = WORDS.get(summary.action, (str(summary.action), ""))[0].lower()
    parts = [f"{summary.done} done"]
    if summary.skipped:
        reasons = ", ".join(f"{n} {reason}" for reason, n in summary.skipped.most_common())
        parts.append(f"{sum(summary.skipped.values())} skipped ({reasons})")
    for name, why in summary.failed_queues.items():
        parts.append(f"queue {name} stopped: {why}")
    severity: Severity = "warning" if summary.skipped or summary.failed_queues else "information"
    if summary.total == 0 and not summary.failed_queues:
        return Outcome(f"bulk {verb}", "nothing matched; nothing changed", "warning")
    return Outcome(f"bulk {verb}", f"{verb} on {summary.total} task(s): " + "; ".join(parts), severity)
