"""The dashboard's bulk keys: ``space`` picks a row, ``a`` picks all matching, ``x`` purges, and
``r`` / ``c`` with rows picked act on them — each through the one bulk dialog
(:class:`~gdw_tui.screens.bulk.BulkScreen`). The dashboard screen builds on this."""

from __future__ import annotations

from textual.screen import Screen

from gdw_core import bulk as B
from gdw_core.status import TaskStatus
from gdw_tui import bulkplan, safe
from gdw_tui.bulkplan import Plan
from gdw_tui.messages import StorageChanged
from gdw_tui.screens.bulk import BulkScreen
from gdw_tui.selection import Scope, Selection
from gdw_tui.source import DataSource
from gdw_tui.widgets.tables import TasksTable

RECURRING = "recurring"


class Picking(Screen[None]):
    """What is picked, and the actions on it. The screen built on it provides ``source``,
    ``shown`` (the tab on screen), ``selected_task`` and ``render_snapshot``."""

    source: DataSource
    shown: str

    def __init__(self) -> None:
        super().__init__()
        self.selection = Selection()

    def selected_task(self) -> str | None:
        raise NotImplementedError

    def render_snapshot(self) -> None:
        raise NotImplementedError

    def action_purge(self) -> None:
        """Delete finished tasks: the picked ones, or the row under the cursor (always asks)."""
        if self.selection.empty:
            task_id = self.selected_task()
            if task_id is None:
                return
            self.open_bulk(Plan(B.Action.PURGE, (task_id,)))
            return
        self.act_on_selection(B.Action.PURGE)

    def action_pick(self) -> None:
        """Pick or unpick the row under the cursor for a bulk action."""
        if self.shown == RECURRING:
            return
        table = self.query_one("#tasks", TasksTable)
        key = table.selected_key
        if key is None:
            return
        try:
            self.selection.toggle(key)
        except ValueError as exc:
            self.notify(safe.markup(str(exc)), severity="warning")
            return
        self.render_snapshot()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_pick_all(self) -> None:
        """Pick every task of this state that matches the storage filter (again: unpick)."""
        if self.shown == RECURRING:
            return
        if self.selection.scope is not None:
            self.selection.clear()
        else:
            scope = Scope(TaskStatus(self.shown), self.source.queue_name, self.source.storage_filter)
            self.selection.select_all(scope)
            self.run_worker(self._tell_picked(scope), group="act")
        self.render_snapshot()

    async def _tell_picked(self, scope: Scope) -> None:
        """Say what was picked: with no filter, how many (the storage's counters); with one, the
        bulk dialog counts them in storage when you act."""
        keys = "r retry · c cancel · x purge · esc clears"
        if scope.filter is not None and not scope.filter.empty:
            words = f"picked {scope.words()} (counted in storage when you act); {keys}"
        else:
            try:
                n = (await self.source.queue.inspect.counts(scope.queue)).get(scope.state, 0)
            except Exception as exc:
                words = f"picked {scope.words()} (cannot count now: {type(exc).__name__}); {keys}"
            else:
                words = f"picked {scope.words()}: {n} now; {keys}"
        self.notify(safe.markup(words), timeout=4)

    def act_on_selection(self, action: B.Action) -> None:
        sel = self.selection
        self.open_bulk(Plan(action, tuple(sel.ids), sel.scope))

    def open_bulk(self, plan: Plan) -> None:
        def done(summary: B.Summary | None) -> None:
            if summary is None:
                return
            words = bulkplan.outcome(summary)
            self.notify(safe.markup(words.message), title=words.title, severity=words.severity)
            self.selection.clear()
            self.post_message(StorageChanged())

        self.app.push_screen(BulkScreen(self.source.queue, plan), done)
