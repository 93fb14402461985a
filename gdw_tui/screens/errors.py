"""Error groups: the top errors of the last 15 minutes by type and (normalised) message, with
counts, where their tasks are and when each was first and last seen. ``enter`` / ``f`` filters the
task list by the chosen group (dismisses with it)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from gdw_core.views import ERROR_WINDOW, ErrorGroup
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.source import DataSource
from gdw_tui.widgets.synced import Cell, SyncedTable


class GroupsTable(SyncedTable):
    COLUMNS = (
        ("count", "count"),
        ("type", "type"),
        ("message", "message"),
        ("where", "where"),
        ("first", "first seen"),
        ("last", "last seen"),
    )


class ErrorGroupsScreen(ModalScreen[ErrorGroup | None]):
    BINDINGS = [
        Binding("enter,f", "choose", "Filter tasks by it", key_display="enter"),
        Binding("r", "reload", "Read again"),
        Binding("escape,q", "close", "Close", key_display="esc"),
    ]

    def __init__(self, source: DataSource) -> None:
        super().__init__()
        self.source = source
        self.groups: list[ErrorGroup] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="errors"):
            yield Static("reading error groups…", id="errors-note")
            yield GroupsTable(id="groups")
        yield Footer()

    def on_mount(self) -> None:
        box = self.query_one("#errors")
        box.border_title = f"error groups · last {ERROR_WINDOW // 60} minutes"
        box.border_subtitle = "enter filters the task list by one · esc closes"
        self.query_one("#groups", GroupsTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._read(), group="errors", exclusive=True)

    async def _read(self) -> None:
        note = self.query_one("#errors-note", Static)
        try:
            self.groups = await self.source.error_groups()
        except Exception as exc:
            note.update(safe.text(f"cannot read error groups: {type(exc).__name__}: {exc}", "bold red"))
            return
        now = self.source.now()
        table = self.query_one("#groups", GroupsTable)
        # from the terminal's width (known at once), not the table's (0 until it is laid out)
        width = max(20, min(160, self.app.size.width) - 84)
        rows: list[tuple[str, list[Cell]]] = []
        for i, g in enumerate(self.groups):
            where = ", ".join(f"{n} {st}" for st, n in sorted(g.statuses.items()))
            rows.append(
                (
                    str(i),
                    [
                        Text(str(g.count), style="bold red"),
                        safe.text(safe.shorten(g.type, 28), "bold"),
                        safe.text(safe.shorten(g.message, width)),
                        safe.text(where, "dim"),
                        f"{fmt.ago(now - g.first_seen)} ago",
                        f"{fmt.ago(now - g.last_seen)} ago",
                    ],
                )
            )
        table.sync(rows)
        table.display = bool(rows)
        if rows:
            note.update(Text(f"{len(rows)} group(s), most frequent first", style="dim"))
        else:
            note.update(Text("no errors in the last 15 minutes", style="dim italic"))

    def action_choose(self) -> None:
        key = self.query_one("#groups", GroupsTable).selected_key
        if key is None or not key.isdigit() or int(key) >= len(self.groups):
            self.notify("no error group to filter by", severity="warning", timeout=2)
            return
        self.dismiss(self.groups[int(key)])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

    def action_close(self) -> None:
        self.dismiss(None)
