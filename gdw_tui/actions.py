"""The operator's actions (cancel, retry now, pause/resume, drain/shutdown, stop a recurring
entry, submit), written once for every screen. Each returns an :class:`Outcome` whose words say
what really happened; :func:`perform` runs one from a screen and shows its outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from textual.screen import Screen

from gdw_core.errors import TaskNotFound
from gdw_core.queue import TaskQueue
from gdw_core.status import TaskStatus
from gdw_tui import safe
from gdw_tui.messages import StorageChanged
from gdw_tui.submitting import SubmitRequest

Severity = Literal["information", "warning", "error"]

#: actions that change something; all of them are off in --read-only
MUTATING = frozenset({"submit", "cancel", "retry_now", "purge", "toggle_pause", "shutdown"})


@dataclass(frozen=True, slots=True)
class Outcome:
    title: str
    message: str
    severity: Severity = "information"


@dataclass(frozen=True, slots=True)
class ShutdownChoice:
    worker: str | None  # None = all
    timeout: float
    immediate: bool = False

    @property
    def who(self) -> str:
        return "all workers" if self.worker is None else f"worker {self.worker}"


def cancel_question(task_id: str) -> str:
    """The confirmation text (markup-safe)."""
    return (
        f"Cancel task {safe.markup(task_id)}?\n"
        "A waiting task is cancelled at once; a claimed or running one is asked to stop."
    )


def cancel_words(task_id: str, status: TaskStatus) -> Outcome:
    match status:
        case TaskStatus.CANCELLED:
            return Outcome("cancelled", f"task {task_id} cancelled; it will not run")
        case TaskStatus.RUNNING:
            return Outcome("cancel requested", f"task {task_id}: cancel requested; the running task will stop")
        case TaskStatus.CLAIMED:
            return Outcome(
                "cancel requested", f"task {task_id}: cancel requested; its worker drops it before it starts"
            )
        case _:
            return Outcome("nothing to cancel", f"task {task_id} had already {status}; nothing changed", "warning")


class Actions:
    """Acts on one queue through its public control and submit methods."""

    def __init__(self, queue: TaskQueue, *, read_only: bool = False) -> None:
        self.queue = queue
        self.read_only = read_only

    def allowed(self, action: str) -> bool:
        return not (self.read_only and action in MUTATING)

    async def cancel(self, task_id: str) -> Outcome:
        return cancel_words(task_id, await self.queue.control.cancel(task_id))

    async def retry_now(self, task_id: str) -> Outcome:
        """Retry: a failed or cancelled task re-runs under its id (history kept, fresh attempt
        budget); a scheduled or retrying one becomes due now; anything else says why not."""
        try:
            item = await self.queue.control.retry(task_id)
        except TaskNotFound:
            return Outcome("retry", f"task {task_id} is gone (retention removed it)", "warning")
        if item.done:
            return Outcome("retry", f"task {task_id} is due now; the next free worker runs it")
        return Outcome("retry", f"task {task_id} was not retried: {item.reason}", "warning")

    async def set_paused(self, queue: str, paused: bool) -> Outcome:
        if paused:
            await self.queue.control.pause(queue)
            return Outcome("paused", f"queue {queue} paused: workers stop claiming from it; running tasks finish")
        await self.queue.control.resume(queue)
        return Outcome("resumed", f"queue {queue} resumed: workers claim from it again")

    async def shutdown(self, choice: ShutdownChoice) -> Outcome:
        await self.queue.control.shutdown(choice.worker, choice.timeout, choice.immediate)
        if choice.immediate:
            return Outcome(
                "stop now", f"asked {choice.who} to stop now: running tasks are interrupted and given back as retryable"
            )
        return Outcome(
            "drain",
            f"asked {choice.who} to drain: they finish what they hold (up to {choice.timeout:g}s), then stop",
        )

    async def stop_recurring(self, entry_id: str) -> Outcome:
        await self.queue.control.cancel_recurring(entry_id)
        return Outcome("stopped", f"recurring entry {entry_id} removed; tasks it already made stay")

    async def submit(self, request: SubmitRequest) -> Outcome:
        ident = await request.send(self.queue)
        what = "recurring entry" if request.when.kind in ("every", "cron") else "task"
        return Outcome("submitted", f"{what} {ident} ({request.name})")


def perform(screen: Screen[Any], work: Callable[[], Awaitable[Outcome]], title: str) -> None:
    """Run one action from ``screen``: its outcome (or its error) becomes a notification, and the
    screen is told storage changed."""

    async def run() -> None:
        try:
            outcome = await work()
        except Exception as exc:
            screen.notify(safe.markup(f"{type(exc).__name__}: {exc}"), title=f"{title} failed", severity="error")
            return
        screen.notify(safe.markup(outcome.message), title=outcome.title, severity=outcome.severity)
        screen.post_message(StorageChanged())

    screen.run_worker(run(), group="act")
