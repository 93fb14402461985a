"""One task, everything about it: fields, every attempt's error with its traceback, the result,
the remaining backoff plan, and the transitions this dashboard has seen."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from gdw_core import views
from gdw_core.errors import GdwError, TaskNotFound
from gdw_core.events import Event
from gdw_core.record import TaskRecord
from gdw_core.retry import RetryPolicy
from gdw_core.status import TaskStatus
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.actions import Actions, cancel_question, perform
from gdw_tui.history import History
from gdw_tui.messages import StorageChanged
from gdw_tui.options import Options
from gdw_tui.screens.confirm import ConfirmScreen
from gdw_tui.screens.workflow import WorkflowScreen
from gdw_tui.source import DataSource, is_connection_error


class TaskDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry_now", "Retry now"),
        Binding("w", "workflow", "Workflow"),  # gdw_tui/screens/workflow.py
    ]

    def __init__(self, task_id: str, source: DataSource, options: Options, actions: Actions, history: History) -> None:
        super().__init__()
        self.task_id = task_id
        self.source = source
        self.options = options
        self.actions = actions
        self.history = history
        self.record: TaskRecord | None = None
        #: the task's events read from the stream when the screen opened (None: not read yet)
        self.stream_events: list[Event] | None = None
        self._reading = False
        self._again = False

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
        self.set_interval(self.options.refresh_interval, self.request_read)
        self.request_read()

    def on_storage_changed(self, message: StorageChanged) -> None:
        if message.event is None or message.event.task_id == self.task_id:
            self.request_read()

    def request_read(self) -> None:
        if self._reading:
            self._again = True
        else:
            self.run_worker(self.reload(), group="read")

    async def reload(self) -> None:
        self._reading = True
        try:
            try:
                rec = await self.source.task(self.task_id)
            except TaskNotFound:
                self.query_one("#fields", Static).update(Text("this task is gone (retention removed it)", "yellow"))
                return
            except Exception as exc:
                if is_connection_error(exc):
                    self.source.set_connection(False, exc)
                    self.set_class(True, "-disconnected")
                else:
                    self.query_one("#fields", Static).update(safe.text(f"cannot read this task: {exc}", "red"))
                return
            self.set_class(False, "-disconnected")
            self.record = rec
            if self.stream_events is None:
                try:
                    self.stream_events = await self.source.task_events(self.task_id)
                except Exception:  # the record alone still tells the story; the stream is extra
                    self.stream_events = []
            self.show(rec, self.source.now(), self.stream_events + self.history.events_for(self.task_id))
        finally:
            self._reading = False
            if self._again:
                self._again = False
                self.request_read()

    def show(self, rec: TaskRecord, now: float, events: list[Event]) -> None:
        self.query_one("#fields", Static).update(fields_table(rec, now))
        self.query_one("#plan", Static).update(plan_text(rec, now))
        self.query_one("#errors", Static).update(errors_view(rec))
        self.query_one("#result", Static).update(result_view(rec))
        self.query_one("#timeline", Static).update(timeline_view(views.merged_timeline(rec, events)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.actions.allowed(action)

    def action_cancel(self) -> None:
        task_id = self.task_id

        def answered(yes: bool | None) -> None:
            if yes:
                perform(self, lambda: self.actions.cancel(task_id), "cancel")

        self.app.push_screen(ConfirmScreen("Cancel task", cancel_question(task_id)), answered)

    def action_workflow(self) -> None:
        self.app.push_screen(WorkflowScreen(self.task_id, self.source, self.options))

    def action_retry_now(self) -> None:
        task_id = self.task_id
        perform(self, lambda: self.actions.retry_now(task_id), "retry now")


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
    t.add_row("timeout", "-" if rec.timeout is None else fmt.ago(rec.timeout))
    t.add_row("worker", safe.text(rec.worker or "-"))
    t.add_row("created", when(rec.created_at))
    t.add_row("run at" if rec.status is not TaskStatus.RETRYING else "next retry", when(rec.run_at or None))
    t.add_row("started", when(rec.started_at))
    t.add_row("finished", when(rec.finished_at))
    if rec.progress is not None:
        bar = fmt.progress_bar(rec, now, width=30) if rec.status is TaskStatus.RUNNING else None
        t.add_row("progress", bar if bar is not None else safe.text(safe.json_text(rec.progress), "blue"))
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
        if not e.counted:
            head.append("  (interrupted: the attempt was not spent)", style="yellow")
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


def timeline_view(entries: list[views.TimelineEntry]) -> Text:
    """The task's story from storage: what its record holds (created, each failed attempt,
    started, finished) and the transitions still in the event stream (claims, releases, retries,
    re-runs, cancel requests) — the stream's entries marked with ``·``."""
    out = Text()
    out.append("\ntimeline (from storage)", style="bold")
    out.append("  record + event stream (· = from the stream)\n", style="dim")
    for t in entries[-40:]:
        out.append(f"{fmt.clock_time(t.at)} ", style="dim")
        out.append("· " if t.source == "event" else "  ", style="dim")
        out.append(safe.clean(t.what), style=fmt.status_style(t.status))
        if t.worker:
            out.append(safe.clean(f"  {t.worker}"), style="dim")
        if t.detail:
            out.append(safe.clean(f"  {t.detail}"), style="dim")
        out.append("\n")
    return out
