"""The main screen: queues, throughput, workers, and tasks by state (or recurring entries), live.
Operator actions start here; each asks first when it destroys something and reports its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Input, Static, Tab, Tabs

from gdw_core import bulk as B
from gdw_core.errors import TaskNotFound
from gdw_core.record import DEFAULT_QUEUE, TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.views import ErrorGroup, TaskFilter
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.actions import MUTATING, Actions, Outcome, ShutdownChoice, cancel_question, perform
from gdw_tui.drain import Drain
from gdw_tui.history import History
from gdw_tui.messages import StorageChanged
from gdw_tui.options import Options
from gdw_tui.paging import GLOBAL_SORTS, Pager
from gdw_tui.palette import DASHBOARD_ACTIONS
from gdw_tui.screens.charts import QueueChartsScreen
from gdw_tui.screens.confirm import ConfirmScreen
from gdw_tui.screens.detail import TaskDetailScreen
from gdw_tui.screens.errors import ErrorGroupsScreen
from gdw_tui.screens.held import HeldScreen
from gdw_tui.screens.picking import RECURRING, Picking
from gdw_tui.screens.shutdown import ShutdownScreen
from gdw_tui.screens.submit import SubmitScreen
from gdw_tui.source import DataSource, Snapshot, is_connection_error
from gdw_tui.submitting import SubmitRequest
from gdw_tui.widgets.panels import ConnectionBadge, DrainBanner, ThroughputPanel, summary_text
from gdw_tui.widgets.tables import QueuesTable, RecurringTable, TasksTable, WorkersTable

TABS: tuple[str, ...] = (*(str(s) for s in fmt.STATES), RECURRING)
SHORT_TAB: dict[str, str] = {**{str(st): fmt.short_label(st) for st in fmt.STATES}, RECURRING: "recur"}
#: the key of each tab: 1-9 for the first nine states in display order, 0 for the recurring
#: entries (whatever the number of states); ``t`` / ``T`` cycle through all of them
TAB_KEYS: dict[str, str] = {
    **{str(status): str(i + 1) for i, status in enumerate(fmt.STATES[:9])},
    RECURRING: "0",
}
#: the least time between two reads when storage keeps changing (seconds)
MIN_READ_GAP = 0.1


class DashboardScreen(Picking):
    BINDINGS = [
        Binding("s", "submit", "Submit"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry_now", "Retry"),
        Binding("space", "pick", "Pick the row for a bulk action (again: unpick)", show=False, key_display="space"),
        Binding("a", "pick_all", "Pick all matching the state and filter (again: unpick)", show=False),
        Binding("x", "purge", "Purge finished tasks: the picked ones or the row (asks first)", show=False),
        Binding("p", "toggle_pause", "Pause"),
        Binding("d", "shutdown", "Drain"),
        Binding("slash", "filter", "Filter"),
        Binding("q", "app.quit", "Quit"),
        Binding("enter", "details", "Details", show=False),
        Binding("g", "goto", "Go to task id", show=False),
        Binding("e", "error_groups", "Error groups of the last 15 minutes", show=False),
        Binding("w", "charts", "Per-queue charts: throughput, wait time, depth", show=False),
        Binding("t", "cycle_tab(1)", "Next state tab", show=False),
        Binding("T", "cycle_tab(-1)", "Previous state tab", show=False, key_display="T"),
        Binding("o", "sort", "Sort: age / age reversed (every page) / name / attempts (this page)", show=False),
        Binding("right_square_bracket,pagedown", "page(1)", "Next page", show=False, key_display="]"),
        Binding("left_square_bracket,pageup", "page(-1)", "Previous page", show=False, key_display="["),
        *(Binding(key, f"show_state('{name}')", f"show {name}", show=False) for name, key in TAB_KEYS.items()),
    ]

    def __init__(self, source: DataSource, options: Options, actions: Actions, history: History) -> None:
        super().__init__()
        self.source = source
        self.options = options
        self.actions = actions
        self.history = history
        self.shown: str = str(TaskStatus.RUNNING)
        self.snapshot: Snapshot | None = None
        self.filter_text = ""
        self.drain: Drain | None = None
        self.pager = Pager(options.page_size)
        self._last_read = -1e9
        self._reading = False
        self._again = False
        self._last_read_error = ""

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="statusbar"):
            yield ConnectionBadge(self.source.address, id="badge")
            yield Static(id="summary")
        yield Static(id="conn-error")
        yield DrainBanner(id="drain-banner")
        with Horizontal(id="top"):
            yield QueuesTable(id="queues")
            yield ThroughputPanel(id="throughput")
        yield WorkersTable(id="workers")
        yield Tabs(*(Tab(name, id=f"tab-{name}") for name in TABS), active=f"tab-{self.shown}", id="states")
        yield Input(placeholder="filter this page: id, name, args, worker or error text (esc clears)", id="filter")
        yield Input(placeholder="go to task id (enter opens it, esc closes)", id="goto")
        with Vertical(id="lists"):
            yield Static(id="empty")
            with ContentSwitcher(initial="tasks", id="switcher"):
                yield TasksTable(id="tasks")
                yield RecurringTable(id="recurring")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#goto", Input).display = False
        self.query_one("#conn-error", Static).display = False
        self.query_one("#drain-banner", DrainBanner).display = False
        self.query_one("#queues").border_title = "queues"
        self.query_one("#throughput").border_title = "throughput"
        self.query_one("#workers").border_title = "workers"
        self.query_one("#lists").border_title = f"{self.shown} tasks"
        self._layout_for(self.size.width, self.size.height)
        self.set_interval(self.options.refresh_interval, self.request_read)
        self.query_one("#tasks", TasksTable).focus()
        self.request_read()

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width, event.size.height)
        self.render_snapshot()

    def _layout_for(self, width: int, height: int) -> None:
        self.set_class(width < 120, "-narrow")
        self.set_class(height < 32, "-short")
        tabs = self.query_one("#states", Tabs)
        for name in TABS:
            tabs.query_one(f"#tab-{name}", Tab).label = self._tab_label(name)

    def _tab_label(self, name: str, count: int | None = None) -> str:
        label = SHORT_TAB.get(name, name) if self.has_class("-narrow") else name
        key = f"{TAB_KEYS[name]} " if name in TAB_KEYS else ""
        return f"{key}{label}" + ("" if count is None else f" {count}")

    # -- reading --------------------------------------------------------------------------------
    def on_storage_changed(self, message: StorageChanged) -> None:
        self.request_read()

    def request_read(self) -> None:
        """Read again soon: at once, or right after the read in progress (at most one read per
        MIN_READ_GAP seconds however fast storage changes)."""
        if self._reading:
            self._again = True
            return
        wait = MIN_READ_GAP - (asyncio.get_running_loop().time() - self._last_read)
        if wait > 0:
            if not self._again:
                self._again = True
                self.set_timer(wait, self._read_later)
            return
        self.run_worker(self.reload(), group="read")

    def _read_later(self) -> None:
        self._again = False
        self.request_read()

    async def reload(self) -> None:
        if self._reading:
            self._again = True
            return
        self._reading = True
        self._last_read = asyncio.get_running_loop().time()
        try:
            status = TaskStatus(self.shown) if self.shown != RECURRING else TaskStatus.RUNNING
            try:
                snap = await self.source.read(status, self.pager.size, self.pager.cursor, self.pager.reverse)
            except Exception as exc:
                if is_connection_error(exc):
                    self.source.set_connection(False, exc)
                    if self.is_attached and self.children:
                        self._show_connection()
                else:  # storage answered, but with something unreadable: say so once, keep going
                    message = f"{type(exc).__name__}: {exc}"
                    if message != self._last_read_error:
                        self._last_read_error = message
                        self.notify(safe.markup(message), title="cannot read this view", severity="error")
                return
            if not self.is_attached or not self.children:  # closed while the read was in flight
                return
            self._last_read_error = ""
            self.source.set_connection(True)
            if self.shown != RECURRING:
                if self.pager.read_done(snap.next_cursor, snap.filtered):
                    self._again = True  # "]" was pressed again meanwhile: read that page first
                    return
                self.pager.clamp(snap.counts().get(self.shown, 0))
                if not snap.tasks and len(self.pager.cursors) > 1:  # the page emptied: one back
                    self.pager.previous()
                    self._again = True
                snap.tasks = self.pager.order(snap.tasks)
            self.snapshot = snap
            self.history.utilization.add(snap.workers)
            self.history.add_queues(snap.now, snap.queues, snap.waits)
            try:
                self._show_connection()
                self.render_snapshot()
            except NoMatches:  # the app is closing: its widgets went away while this read ran
                return
        finally:
            self._reading = False
            if self._again:
                self._again = False
                self.set_timer(MIN_READ_GAP, self.request_read)

    def _show_connection(self) -> None:
        badge = self.query_one("#badge", ConnectionBadge)
        ok = self.source.connected
        badge.state = "connecting" if ok is None else ("connected" if ok else "disconnected")
        reason = self.query_one("#conn-error", Static)
        reason.display = ok is False and bool(self.source.last_error)
        if reason.display:
            reason.update(safe.text(f"{self.source.last_error} — retrying", "bold red"))
        self.set_class(ok is False, "-disconnected")

    def render_snapshot(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        now = snap.now
        dead = {w.id for w in snap.workers if fmt.worker_is_stale(w, now)}
        failing = fmt.failing_queues(snap.workers, snap.now, snap.queues)
        self.query_one("#queues", QueuesTable).show(snap.queues, now, snap.waits, self.history.queues, failing)
        self.query_one("#throughput", ThroughputPanel).show(self.history.throughput, now)
        workers = self.query_one("#workers", WorkersTable)
        workers.show(snap.workers, now, self.history.utilization.series)
        live = sum(1 for w in snap.workers if fmt.worker_is_live(w, now))
        gone = len(snap.workers) - live
        workers.border_title = f"workers: {live} live" + (f", {gone} stopped or dead" if gone else "")
        lists = self.query_one("#lists")
        if self.shown == RECURRING:
            shown = self.query_one("#recurring", RecurringTable).show(snap.recurring, now)
            self._show_empty(shown, "no recurring entries")
            lists.border_title = "recurring entries"
        elif snap.status == self.shown:
            shown = self.query_one("#tasks", TasksTable).show(
                snap.tasks, now, dead, self._matches, self.selection.holds
            )
            needle = self.filter_text.strip()
            if needle and snap.tasks:
                self._show_empty(shown, f"no {self.shown} tasks on this page match “{safe.clean(needle)}”")
            else:
                self._show_empty(shown, f"no {self.shown} tasks")
            page = self.pager.label(len(snap.tasks))
            title = f"{self.shown} tasks" + (f" · {page}" if page else "")
            if needle and snap.tasks:  # the page's count is not what is on screen: say both
                title += f" · {shown} match “{safe.markup(safe.shorten(needle, 24))}”"
            lists.border_title = title
            more = self.pager.more
            hint = ("[ ] pages · " if more else "") + "space pick · a all · e errors · w charts · o sort · g go to id"
            picked = self.selection.label()
            lists.border_subtitle = f"{safe.markup(picked)} · r c x act · esc clears" if picked else hint
        self.query_one("#summary", Static).update(summary_text(snap, self.options.read_only))
        self._show_tabs(snap)
        self._show_drain(snap)

    def _show_empty(self, shown: int, words: str) -> None:
        empty = self.query_one("#empty", Static)
        empty.display = shown == 0
        for table in self.query("#tasks, #recurring").results(DataTable):
            table.show_header = shown > 0
        if shown == 0:
            empty.update(Text(words, style="dim italic"))

    def _show_tabs(self, snap: Snapshot) -> None:
        counts = snap.counts()
        tabs = self.query_one("#states", Tabs)
        for name in TABS:
            n = len(snap.recurring) if name == RECURRING else counts.get(name, 0)
            tab = tabs.query_one(f"#tab-{name}", Tab)
            label = self._tab_label(name, n)
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
            self.pager.reset()
            self.selection.clear()
            self.query_one("#switcher", ContentSwitcher).current = "recurring" if name == RECURRING else "tasks"
            self.query_one("#lists").border_title = "recurring entries" if name == RECURRING else f"{name} tasks"
            self.query_one("#tasks", TasksTable).clear()
            self.run_worker(self.reload(), group="read")

    def action_show_state(self, name: str) -> None:
        self.query_one("#states", Tabs).active = f"tab-{name}"

    def action_cycle_tab(self, step: int) -> None:
        at = TABS.index(self.shown) if self.shown in TABS else 0
        self.action_show_state(TABS[(at + step) % len(TABS)])

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
        flt = TaskFilter.parse(self.filter_text)
        if flt is not None:  # name:/queue:/error: words are evaluated in storage, not on this page
            self.source.storage_filter = flt
            self.selection.clear()
            self.filter_text = ""
            self.pager.reset()
            self.notify(f"filtering in storage: {safe.markup(self._filter_words(flt))}", timeout=3)
            self.request_read()
        self.query_one("#tasks", TasksTable).focus()

    @staticmethod
    def _filter_words(flt: TaskFilter) -> str:
        return flt.words()

    def action_error_groups(self) -> None:
        """The top errors of the last 15 minutes; choosing one filters the task list by it."""
        self.app.push_screen(ErrorGroupsScreen(self.source), self._group_chosen)

    def action_charts(self) -> None:
        self.app.push_screen(QueueChartsScreen(self.source, self.history))

    def _group_chosen(self, group: ErrorGroup | None) -> None:
        if group is None:
            return
        self.source.storage_filter = group.filter
        self.selection.clear()
        self.pager.reset()
        self.notify(safe.markup(f"filtering in storage: {group.filter.words()}"), title="error group", timeout=3)
        self.action_show_state(str(group.status))
        self.request_read()

    def key_escape(self) -> None:
        if not self.selection.empty:
            self.selection.clear()
            self.render_snapshot()
            return
        if self.source.storage_filter is not None:
            self.source.storage_filter = None
            self.pager.reset()
            self.request_read()
        for box in self.query("#filter, #goto").results(Input):
            if box.display:
                box.value = ""
                box.display = False
        self.query_one("#tasks", TasksTable).focus()

    def action_page(self, step: int) -> None:
        if self.shown == RECURRING:
            return
        moved = self.pager.next() if step > 0 else self.pager.previous()
        if not moved:
            self.notify("no more pages that way", severity="warning", timeout=2)
            return
        self.request_read()

    def action_sort(self) -> None:
        order = self.pager.cycle_sort()
        if order in GLOBAL_SORTS:
            self.notify(f"sorted by {order}, across every page (through the index)", timeout=2)
        else:
            self.notify(f"sorted by {order} within this page; pages stay in storage order", timeout=3)
        self.request_read()

    def action_goto(self) -> None:
        box = self.query_one("#goto", Input)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#goto")
    def _goto_done(self, event: Input.Submitted) -> None:
        task_id = event.value.strip()
        event.input.value = ""
        event.input.display = False
        self.query_one("#tasks", TasksTable).focus()
        if not task_id:
            return

        async def find() -> None:
            try:
                await self.source.task(task_id)
            except TaskNotFound:
                self.notify(safe.markup(f"no task {task_id}"), title="go to task", severity="warning")
                return
            except Exception as exc:
                self.notify(safe.markup(f"{type(exc).__name__}: {exc}"), title="go to task", severity="error")
                return
            self.open_task(task_id)

        self.run_worker(find(), group="act")

    @on(DataTable.RowSelected, "#workers")
    def _worker_chosen(self, event: DataTable.RowSelected) -> None:
        snap = self.snapshot
        found = [w for w in (snap.workers if snap else []) if w.id == event.row_key.value]
        if found:
            self.app.push_screen(HeldScreen(found[0], self.source))

    @on(DataTable.RowSelected, "#tasks")
    def _task_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.open_task(event.row_key.value)

    def action_details(self) -> None:
        key = self.query_one("#tasks", TasksTable).selected_key
        if key:
            self.open_task(key)

    def open_task(self, task_id: str) -> None:
        self.app.push_screen(TaskDetailScreen(task_id, self.source, self.options, self.actions, self.history))

    # -- actions --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.actions.allowed(action)

    def selected_task(self) -> str | None:
        if self.shown == RECURRING:
            return None
        key = self.query_one("#tasks", TasksTable).selected_key
        if key is None:
            self.notify("select a task first (arrow keys or the mouse)", severity="warning")
        return key

    def target_queue(self) -> str:
        if self.source.queue_name:
            return self.source.queue_name
        return self.query_one("#queues", QueuesTable).selected_key or DEFAULT_QUEUE

    def action_submit(self) -> None:
        async def open_form() -> None:
            try:
                names = await self.source.registered_names()
            except Exception as exc:
                self.notify(safe.markup(str(exc)), title="cannot read task names", severity="error")
                return
            self.app.push_screen(SubmitScreen(names, self.source.now, self.target_queue()), self._submitted)

        self.run_worker(open_form(), group="act")

    def _submitted(self, request: SubmitRequest | None) -> None:
        if request is not None:
            perform(self, lambda: self.actions.submit(request), "submit")

    def action_cancel(self) -> None:
        if self.shown == RECURRING:
            entry = self.query_one("#recurring", RecurringTable).selected_key
            if entry is None:
                self.notify("select a recurring entry first", severity="warning")
                return
            question = f"Stop the recurring entry {safe.markup(entry)}? Tasks it already made stay."

            def stop_entry(yes: bool | None) -> None:
                if yes:
                    perform(self, lambda: self.actions.stop_recurring(entry), "stop")

            self.app.push_screen(ConfirmScreen("Stop recurring entry", question), stop_entry)
            return
        if not self.selection.empty:
            self.act_on_selection(B.Action.CANCEL)
            return
        task_id = self.selected_task()
        if task_id is None:
            return

        def cancel(yes: bool | None) -> None:
            if yes:
                perform(self, lambda: self.actions.cancel(task_id), "cancel")

        self.app.push_screen(ConfirmScreen("Cancel task", cancel_question(task_id)), cancel)

    def action_retry_now(self) -> None:
        if not self.selection.empty:
            self.act_on_selection(B.Action.RETRY)
            return
        task_id = self.selected_task()
        if task_id is not None:
            perform(self, lambda: self.actions.retry_now(task_id), "retry now")

    def action_toggle_pause(self) -> None:
        name = self.target_queue()
        snap = self.snapshot
        paused = any(q.name == name and q.paused for q in (snap.queues if snap else []))
        perform(self, lambda: self.actions.set_paused(name, not paused), "resume" if paused else "pause")

    def action_shutdown(self) -> None:
        snap = self.snapshot
        now = self.source.now()
        workers = [w for w in (snap.workers if snap else []) if fmt.worker_is_live(w, now)]
        if not workers:
            self.notify("no live workers to shut down", severity="warning")
            return
        preselect = self.query_one("#workers", WorkersTable).selected_key
        self.app.push_screen(ShutdownScreen(workers, self.source, preselect), self._shutdown_chosen)

    def _shutdown_chosen(self, choice: ShutdownChoice | None) -> None:
        if choice is None:
            return
        snap = self.snapshot
        now = self.source.now()
        live = frozenset(w.id for w in (snap.workers if snap else []) if fmt.worker_is_live(w, now))

        async def send() -> Outcome:
            outcome = await self.actions.shutdown(choice)
            self.drain = Drain(choice.worker, now + choice.timeout, choice.immediate, live)
            return outcome

        perform(self, send, "shutdown")

    # -- the command palette --------------------------------------------------------------------
    def palette_commands(self) -> Iterator[SystemCommand]:
        for title, help_text, action in DASHBOARD_ACTIONS:
            if action in MUTATING and self.options.read_only:
                continue
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
        for name in TABS:
            yield SystemCommand(
                f"Show {name}",
                f"List {name} tasks" if name != RECURRING else "Recurring entries",
                lambda name=name: self.action_show_state(name),
            )
