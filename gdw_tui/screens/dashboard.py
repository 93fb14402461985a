"""The main screen: queues, throughput, workers, and tasks by state (or recurring entries), live.
Operator actions start here; each asks first when it destroys something and reports its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Input, Static, Tab, Tabs

from gdw_core.record import DEFAULT_QUEUE, TaskRecord
from gdw_core.status import TaskStatus
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.drain import Drain
from gdw_tui.source import Snapshot, is_connection_error
from gdw_tui.widgets.panels import ConnectionBadge, DrainBanner, ThroughputPanel
from gdw_tui.widgets.tables import QueuesTable, RecurringTable, TasksTable, WorkersTable

if TYPE_CHECKING:
    from gdw_tui.app import GdwApp

RECURRING = "recurring"
TABS: tuple[str, ...] = (*(str(s) for s in fmt.STATES), RECURRING)
#: actions that change something; all of them are off in --read-only
MUTATING = frozenset({"submit", "cancel", "retry_now", "toggle_pause", "shutdown"})


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("s", "submit", "Submit"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry_now", "Retry now"),
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("d", "shutdown", "Drain/shutdown"),
        Binding("slash", "filter", "Filter"),
        Binding("enter", "details", "Details", show=False),
        Binding("q", "app.quit", "Quit"),
        *(Binding(str(i + 1), f"show_state('{name}')", name, show=False) for i, name in enumerate(TABS)),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.shown: str = str(TaskStatus.RUNNING)
        self.snapshot: Snapshot | None = None
        self.filter_text = ""
        self.drain: Drain | None = None
        self._seen = -1
        self._last_read = -1e9
        self._reading = False
        self._last_read_error = ""

    @property
    def gdw(self) -> GdwApp:
        return cast("GdwApp", self.app)

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="statusbar"):
            yield ConnectionBadge(self.gdw.source.address, id="badge")
            yield Static(id="summary")
        yield DrainBanner(id="drain-banner")
        with Horizontal(id="top"):
            yield QueuesTable(id="queues")
            yield ThroughputPanel(id="throughput")
        yield WorkersTable(id="workers")
        yield Tabs(*(Tab(name, id=f"tab-{name}") for name in TABS), active=f"tab-{self.shown}", id="states")
        yield Input(placeholder="filter: id, name, args, worker or error text (esc clears)", id="filter")
        with ContentSwitcher(initial="tasks", id="lists"):
            yield TasksTable(id="tasks")
            yield RecurringTable(id="recurring")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#drain-banner", DrainBanner).display = False
        self.query_one("#queues").border_title = "queues"
        self.query_one("#throughput").border_title = "throughput"
        self.query_one("#workers").border_title = "workers"
        self.query_one("#lists").border_title = "tasks"
        self.set_interval(0.1, self._tick)
        self.query_one("#tasks", TasksTable).focus()
        self.run_worker(self.reload(), group="read")

    # -- reading --------------------------------------------------------------------------------
    def _tick(self) -> None:
        app = self.gdw
        due = asyncio.get_running_loop().time() - self._last_read >= app.refresh_interval
        if not self._reading and (due or app.changes != self._seen):
            self.run_worker(self.reload(), group="read")

    async def reload(self) -> None:
        if self._reading:
            return
        self._reading = True
        self._seen = self.gdw.changes
        self._last_read = asyncio.get_running_loop().time()
        try:
            status = TaskStatus(self.shown) if self.shown != RECURRING else TaskStatus.RUNNING
            try:
                snap = await self.gdw.source.read(status)
            except Exception as exc:
                if is_connection_error(exc):
                    self.gdw.set_connection(False, exc)
                    self._show_connection()
                else:  # storage answered, but with something unreadable: say so once, keep going
                    message = f"{type(exc).__name__}: {exc}"
                    if message != self._last_read_error:
                        self._last_read_error = message
                        self.notify(safe.markup(message), title="cannot read this view", severity="error")
                return
            self._last_read_error = ""
            self.gdw.set_connection(True)
            self.snapshot = snap
            self.gdw.utilization.add(snap.workers)
            self._show_connection()
            self.render_snapshot()
        finally:
            self._reading = False

    def _show_connection(self) -> None:
        badge = self.query_one("#badge", ConnectionBadge)
        ok = self.gdw.connected
        badge.error = self.gdw.last_error
        badge.state = "connecting" if ok is None else ("connected" if ok else "disconnected")
        self.set_class(ok is False, "-disconnected")

    def render_snapshot(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        now = snap.now
        stale = {w.id for w in snap.workers if fmt.worker_is_stale(w, now)}
        self.query_one("#queues", QueuesTable).show(snap.queues, now)
        self.query_one("#throughput", ThroughputPanel).show(self.gdw.throughput, now)
        self.query_one("#workers", WorkersTable).show(snap.workers, now, self.gdw.utilization.series)
        if self.shown == RECURRING:
            self.query_one("#recurring", RecurringTable).show(snap.recurring, now)
        elif snap.status == self.shown:
            self.query_one("#tasks", TasksTable).show(snap.tasks, now, stale, self._matches)
        self._show_summary(snap)
        self._show_tabs(snap)
        self._show_drain(snap)

    def _show_summary(self, snap: Snapshot) -> None:
        counts = snap.counts()
        paused = [q.name for q in snap.queues if q.paused]
        oldest = [q.oldest_pending_at for q in snap.queues if q.oldest_pending_at]
        live = [w for w in snap.workers if w.state != "stopped"]
        out = Text()
        out.append(f"{len(live)} worker(s) ", style="bold")
        out.append(f"{sum(w.busy for w in live)}/{sum(w.concurrency for w in live)} slots busy  ")
        out.append(f"waiting {counts.get('pending', 0) + counts.get('scheduled', 0) + counts.get('retrying', 0)}  ")
        if oldest:
            out.append(f"oldest pending {fmt.ago(snap.now - min(oldest))}  ", style="yellow")
        if paused:
            out.append("PAUSED: " + ", ".join(safe.clean(p) for p in paused), style="bold yellow reverse")
        if self.gdw.read_only:
            out.append("  read-only", style="bold cyan")
        self.query_one("#summary", Static).update(out)

    def _show_tabs(self, snap: Snapshot) -> None:
        counts = snap.counts()
        tabs = self.query_one("#states", Tabs)
        for name in TABS:
            n = len(snap.recurring) if name == RECURRING else counts.get(name, 0)
            tab = tabs.query_one(f"#tab-{name}", Tab)
            label = f"{name} {n}"
            if str(tab.label) != label:
                tab.label = label

    def _show_drain(self, snap: Snapshot) -> None:
        banner = self.query_one("#drain-banner", DrainBanner)
        if self.drain is None:
            banner.show(None)
            return
        if self.drain.finished(snap.workers):
            self.notify(f"{safe.markup(self.drain.label)} stopped; nothing in flight was lost", title="drained")
            self.drain = None
            banner.show(None)
            return
        banner.show(self.drain.banner(snap.workers, snap.now))

    def _matches(self, rec: TaskRecord) -> bool:
        needle = self.filter_text.strip().lower()
        if not needle:
            return True
        hay = [rec.id, rec.name, rec.worker or "", rec.queue, str(rec.last_error or "")]
        if not rec.secret:
            hay.append(safe.json_text([rec.args, rec.kwargs]))
        return any(needle in h.lower() for h in hay)

    # -- navigation -----------------------------------------------------------------------------
    @on(Tabs.TabActivated, "#states")
    def _tab_changed(self, event: Tabs.TabActivated) -> None:
        name = (event.tab.id or "").removeprefix("tab-")
        if name and name != self.shown:
            self.shown = name
            self.query_one("#lists", ContentSwitcher).current = "recurring" if name == RECURRING else "tasks"
            self.query_one("#lists").border_title = "recurring entries" if name == RECURRING else f"{name} tasks"
            self.query_one("#tasks", TasksTable).clear()
            self.run_worker(self.reload(), group="read")

    def action_show_state(self, name: str) -> None:
        self.query_one("#states", Tabs).active = f"tab-{name}"

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.render_snapshot()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#tasks", TasksTable).focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one("#tasks", TasksTable).focus()

    @on(DataTable.RowSelected, "#tasks")
    def _task_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.open_task(event.row_key.value)

    def action_details(self) -> None:
        key = self.query_one("#tasks", TasksTable).selected_key
        if key:
            self.open_task(key)

    def open_task(self, task_id: str) -> None:
        from gdw_tui.screens.detail import TaskDetailScreen

        self.app.push_screen(TaskDetailScreen(task_id))

    # -- actions --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in MUTATING and self.gdw.read_only)

    def selected_task(self) -> str | None:
        if self.shown == RECURRING:
            return None
        key = self.query_one("#tasks", TasksTable).selected_key
        if key is None:
            self.notify("select a task first (arrow keys or the mouse)", severity="warning")
        return key

    def target_queue(self) -> str:
        if self.gdw.source.queue_name:
            return self.gdw.source.queue_name
        return self.query_one("#queues", QueuesTable).selected_key or DEFAULT_QUEUE

    def act(self, work: Callable[[], Awaitable[Any]], done: Callable[[Any], str], title: str) -> None:
        """Run one action; its outcome or its error becomes a notification."""

        async def run() -> None:
            try:
                result = await work()
            except Exception as exc:
                self.notify(safe.markup(f"{type(exc).__name__}: {exc}"), title=f"{title} failed", severity="error")
                return
            self.notify(safe.markup(done(result)), title=title)
            self.gdw.changes += 1

        self.run_worker(run(), group="act")

    def action_submit(self) -> None:
        from gdw_tui.screens.submit import SubmitScreen

        async def open_form() -> None:
            try:
                names = await self.gdw.source.registered_names()
            except Exception as exc:
                self.notify(safe.markup(str(exc)), title="cannot read task names", severity="error")
                return
            self.app.push_screen(SubmitScreen(names, self.gdw.source.now, self.target_queue()), self._submitted)

        self.run_worker(open_form(), group="act")

    def _submitted(self, request: Any) -> None:
        if request is None:
            return
        kind = request.when.kind
        self.act(
            lambda: request.send(self.gdw.queue),
            lambda ident: f"{'recurring entry' if kind in ('every', 'cron') else 'task'} {ident} ({request.name})",
            "submitted",
        )

    def action_cancel(self) -> None:
        from gdw_tui.screens.confirm import ConfirmScreen

        if self.shown == RECURRING:
            entry = self.query_one("#recurring", RecurringTable).selected_key
            if entry is None:
                self.notify("select a recurring entry first", severity="warning")
                return
            question = f"Stop the recurring entry {safe.markup(entry)}? Tasks it already made stay."

            def stop_entry(yes: bool | None) -> None:
                if yes:
                    self.act(
                        lambda: self.gdw.queue.control.cancel_recurring(entry),
                        lambda _: f"recurring entry {entry} removed",
                        "stopped",
                    )

            self.app.push_screen(ConfirmScreen("Stop recurring entry", question), stop_entry)
            return
        task_id = self.selected_task()
        if task_id is None:
            return

        def cancel(yes: bool | None) -> None:
            if yes:
                self.act(
                    lambda: self.gdw.queue.control.cancel(task_id),
                    lambda st: f"task {task_id} is now {st}",
                    "cancel",
                )

        self.app.push_screen(
            ConfirmScreen("Cancel task", f"Cancel task {safe.markup(task_id)}? A running task is asked to stop."),
            cancel,
        )

    def action_retry_now(self) -> None:
        task_id = self.selected_task()
        if task_id is None:
            return

        async def retry() -> bool:
            return await self.gdw.queue.control.retry_now(task_id)

        self.act(
            retry,
            lambda ok: f"task {task_id} is due now" if ok else f"task {task_id} is not scheduled or retrying",
            "retry now",
        )

    def action_toggle_pause(self) -> None:
        name = self.target_queue()
        snap = self.snapshot
        paused = any(q.name == name and q.paused for q in (snap.queues if snap else []))
        control = self.gdw.queue.control
        if paused:
            self.act(lambda: control.resume(name), lambda _: f"queue {name} resumed", "resume")
        else:
            self.act(lambda: control.pause(name), lambda _: f"queue {name} paused: running tasks finish", "pause")

    def action_shutdown(self) -> None:
        from gdw_tui.screens.shutdown import ShutdownScreen

        snap = self.snapshot
        workers = [w for w in (snap.workers if snap else []) if w.state != "stopped"]
        if not workers:
            self.notify("no live workers to shut down", severity="warning")
            return
        preselect = self.query_one("#workers", WorkersTable).selected_key
        self.app.push_screen(ShutdownScreen(workers, preselect), self._shutdown_chosen)

    def _shutdown_chosen(self, choice: Any) -> None:
        if choice is None:
            return
        snap = self.snapshot
        live = frozenset(w.id for w in (snap.workers if snap else []) if w.state != "stopped")
        now = self.gdw.source.now()

        async def send() -> None:
            await self.gdw.queue.control.shutdown(choice.worker, choice.timeout, choice.immediate)
            self.drain = Drain(choice.worker, now + choice.timeout, choice.immediate, live)

        who = "all workers" if choice.worker is None else f"worker {choice.worker}"
        self.act(send, lambda _: f"asked {who} to {'stop now' if choice.immediate else 'drain'}", "shutdown")

    # -- the command palette --------------------------------------------------------------------
    def palette_commands(self) -> Iterator[SystemCommand]:
        items = [
            ("Submit a task", "Open the submit form (run now, in, at, every, cron)", "submit"),
            ("Cancel the selected task", "Ask first, then cancel it", "cancel"),
            ("Retry the selected task now", "A scheduled or retrying task becomes due now", "retry_now"),
            ("Pause or resume the queue", "Workers stop or start claiming from it", "toggle_pause"),
            ("Shut down workers", "Drain one worker or all, with a countdown", "shutdown"),
            ("Filter tasks", "Show only tasks matching some text", "filter"),
            ("Task details", "Everything about the selected task", "details"),
        ]
        for title, help_text, action in items:
            if action in MUTATING and self.gdw.read_only:
                continue
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
        for name in TABS:
            yield SystemCommand(
                f"Show {name}",
                f"List {name} tasks" if name != RECURRING else "Recurring entries",
                lambda name=name: self.action_show_state(name),
            )
