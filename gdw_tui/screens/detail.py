"""One task, everything about it: fields, every attempt's error with its traceback, the result,
the remaining backoff plan, and the transitions this dashboard has seen."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from gdw_core.errors import GdwError, TaskNotFound
from gdw_core.events import Event
from gdw_core.record import TaskRecord
from gdw_core.retry import RetryPolicy
from gdw_core.status import TaskStatus
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.source import is_connection_error

if TYPE_CHECKING:
    from gdw_tui.app import GdwApp


class TaskDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry_now", "Retry now"),
    ]

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self.record: TaskRecord | None = None
        self._seen = -1
        self._last = -1e9
        self._reading = False

    @property
    def gdw(self) -> GdwApp:
        return cast("GdwApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(id="fields")
            yield Static(id="plan")
            yield Static(id="errors")
            yield Static(id="result")
            yield Static(id="timeline")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail").border_title = f"task {safe.clean(self.task_id)}"
        self.set_interval(0.25, self._tick)
        self.run_worker(self.reload(), group="read")

    def _tick(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if not self._reading and (self.gdw.changes != self._seen or loop_now - self._last >= 1.0):
            self.run_worker(self.reload(), group="read")

    async def reload(self) -> None:
        self._reading = True
        self._seen = self.gdw.changes
        self._last = asyncio.get_running_loop().time()
        try:
            try:
                rec = await self.gdw.source.task(self.task_id)
            except TaskNotFound:
                self.query_one("#fields", Static).update(Text("this task is gone (retention removed it)", "yellow"))
                return
            except Exception as exc:
                if is_connection_error(exc):
                    self.gdw.set_connection(False, exc)
                    self.set_class(True, "-disconnected")
                else:
                    self.query_one("#fields", Static).update(safe.text(f"cannot read this task: {exc}", "red"))
                return
            self.set_class(False, "-disconnected")
            self.record = rec
            self.show(rec, self.gdw.source.now(), self.gdw.events_for(self.task_id))
        finally:
            self._reading = False

    def show(self, rec: TaskRecord, now: float, events: list[Event]) -> None:
        self.query_one("#fields", Static).update(fields_table(rec, now))
        self.query_one("#plan", Static).update(plan_text(rec, now))
        self.query_one("#errors", Static).update(errors_view(rec))
        self.query_one("#result", Static).update(result_view(rec))
        self.query_one("#timeline", Static).update(timeline_view(events))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in ("cancel", "retry_now") and self.gdw.read_only)

    def action_cancel(self) -> None:
        from gdw_tui.screens.confirm import ConfirmScreen

        task_id = self.task_id

        async def cancel() -> None:
            try:
                status = await self.gdw.queue.control.cancel(task_id)
            except GdwError as exc:
                self.notify(safe.markup(str(exc)), title="cancel failed", severity="error")
                return
            self.notify(safe.markup(f"task {task_id} is now {status}"), title="cancel")
            self.gdw.changes += 1

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(cancel(), group="act")

        self.app.push_screen(ConfirmScreen("Cancel task", f"Cancel task {safe.markup(task_id)}?"), answered)

    def action_retry_now(self) -> None:
        task_id = self.task_id

        async def retry() -> None:
            try:
                ok = await self.gdw.queue.control.retry_now(task_id)
            except GdwError as exc:
                self.notify(safe.markup(str(exc)), title="retry now failed", severity="error")
                return
            text = f"task {task_id} is due now" if ok else f"task {task_id} is not scheduled or retrying"
            self.notify(safe.markup(text), title="retry now", severity="information" if ok else "warning")
            self.gdw.changes += 1

        self.run_worker(retry(), group="act")


def fields_table(rec: TaskRecord, now: float) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", justify="right")
    t.add_column()

    def when(value: float | None) -> str:
        return "-" if value is None else f"{fmt.clock_time(value)} ({fmt.in_from_now(value, now)})"

    t.add_row("id", safe.text(rec.id))
    t.add_row("name", safe.text(rec.name, "bold"))
    t.add_row("status", fmt.status_text(str(rec.status)))
    t.add_row("", fmt.timing_text(rec, now))
    t.add_row("args", Text("(redacted)", "italic dim") if rec.secret else safe.text(safe.json_text(rec.args)))
    t.add_row("kwargs", Text("(redacted)", "italic dim") if rec.secret else safe.text(safe.json_text(rec.kwargs)))
    t.add_row("queue", safe.text(rec.queue))
    t.add_row("priority", str(rec.priority))
    t.add_row("attempts", f"{rec.attempts} of {rec.max_attempts}")
    t.add_row("timeout", "-" if rec.timeout is None else f"{rec.timeout:g}s")
    t.add_row("worker", safe.text(rec.worker or "-"))
    t.add_row("created", when(rec.created_at))
    t.add_row("run at" if rec.status is not TaskStatus.RETRYING else "next retry", when(rec.run_at or None))
    t.add_row("started", when(rec.started_at))
    t.add_row("finished", when(rec.finished_at))
    if rec.progress is not None:
        t.add_row("progress", safe.text(safe.json_text(rec.progress), "blue"))
    if rec.recurring_id:
        t.add_row("recurring", safe.text(rec.recurring_id))
    if rec.cancel_requested:
        t.add_row("", Text("cancel requested", "yellow"))
    return t


def plan_text(rec: TaskRecord, now: float) -> Text:
    out = Text("\nbackoff plan  ", style="bold")
    if rec.status.terminal:
        out.append("none left: the task is finished", style="dim")
        return out
    if rec.retry is None:
        out.append("the worker's default retry policy", style="dim")
        return out
    try:
        policy = RetryPolicy.from_dict(rec.retry)
    except GdwError as exc:
        out.append(safe.clean(str(exc)), style="red")
        return out
    out.append(f"{policy.strategy} base {policy.base_delay:g}s max {policy.max_delay:g}s", style="dim")
    if policy.jitter:
        out.append(f" jitter ±{policy.jitter:.0%}", style="dim")
    out.append("\n")
    if rec.status is TaskStatus.RETRYING:
        out.append(
            f"next: attempt {rec.attempts + 1}/{rec.max_attempts} (retry {rec.attempts} of {policy.max_retries}) "
            f"at {fmt.clock_time(rec.run_at)} ",
            style="magenta",
        )
        out.append(f"(in {fmt.ago(rec.run_at - now)})\n", style="magenta")
        rest = policy.plan(rec.attempts)
        first = rec.attempts + 1
    else:
        rest = policy.plan(max(0, rec.attempts - 1))
        first = max(1, rec.attempts)
    if rest:
        out.append("then, if attempts keep failing: ")
        out.append(", ".join(f"retry {first + i}: +{d:g}s" for i, d in enumerate(rest)))
    else:
        out.append("no retries left: the next failure fails the task", style="yellow")
    return out


def errors_view(rec: TaskRecord) -> RenderableType:
    if not rec.errors:
        return Text("\nno errors", style="dim")
    parts: list[RenderableType] = [Text(f"\nerrors ({len(rec.errors)})", style="bold")]
    for e in rec.errors:
        head = Text(f"attempt {e.attempt}  ", style="bold red")
        head.append(safe.clean(f"{e.type}: {e.message}"), style="red")
        head.append(f"  at {fmt.clock_time(e.at)}", style="dim")
        if e.worker:
            head.append(f"  on {safe.clean(e.worker)}", style="dim")
        parts.append(head)
        if e.traceback:
            parts.append(Text(safe.clean(e.traceback.rstrip(), multiline=True), style="dim"))
    return Group(*parts)


def result_view(rec: TaskRecord) -> Text:
    if rec.status is not TaskStatus.COMPLETED:
        return Text("")
    out = Text("\nresult  ", style="bold")
    out.append(safe.clean(safe.json_text(rec.result)), style="green")
    return out


def timeline_view(events: list[Event]) -> Text:
    if not events:
        return Text("\n(no transitions seen since the dashboard started)", style="dim")
    out = Text("\ntimeline\n", style="bold")
    for e in events[-30:]:
        out.append(f"{fmt.clock_time(e.at)}  ", style="dim")
        out.append(safe.clean(f"{e.old or 'new'} → {e.kind}"), style=fmt.STATUS_STYLE.get(e.kind, ""))
        if e.worker:
            out.append(safe.clean(f"  {e.worker}"), style="dim")
        if e.detail:
            out.append(safe.clean(f"  {e.detail}"), style="dim")
        out.append("\n")
    return out
