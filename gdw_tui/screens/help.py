"""``?`` / F1: every key, by area. Listed from the screens' own bindings, so it cannot drift."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from gdw_tui.options import Options
from gdw_tui.screens.bulk import BulkScreen
from gdw_tui.screens.confirm import ConfirmScreen
from gdw_tui.screens.dashboard import DashboardScreen
from gdw_tui.screens.detail import TaskDetailScreen
from gdw_tui.screens.errors import ErrorGroupsScreen
from gdw_tui.screens.shutdown import ShutdownScreen
from gdw_tui.screens.submit import SubmitScreen

#: keys that belong to Textual's widgets rather than to gdw's screens
GENERAL: tuple[tuple[str, str], ...] = (
    ("? / F1", "this help"),
    ("ctrl+p", "command palette: every action by name"),
    ("tab / shift+tab", "move between the tables"),
    ("↑ ↓ / mouse", "select a row"),
    ("enter (workers)", "what the worker holds; for a dead one, what waits for lease recovery"),
    ("q / ctrl+q", "quit"),
)


def _keys(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    names = {
        "slash": "/",
        "question_mark": "?",
        "escape": "esc",
        "right_square_bracket": "]",
        "left_square_bracket": "[",
        "pagedown": "pgdn",
        "pageup": "pgup",
        "backspace": "backspace",
    }
    return " / ".join(names.get(k, k) for k in binding.key.split(","))


def _rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    digits: list[str] = []
    for b in bindings:
        if not isinstance(b, Binding):
            continue
        if b.key.isdigit():
            digits.append(f"{b.key} {b.description.removeprefix('show ')}")
            continue
        rows.append((_keys(b), b.description))
    if digits:
        rows.append(("0 … 9", "show a tab: " + ", ".join(sorted(digits, key=lambda d: d.startswith("0")))))
    return rows


def areas() -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        ("Everywhere", list(GENERAL)),
        ("Dashboard", _rows(DashboardScreen.BINDINGS)),
        ("Task details", _rows(TaskDetailScreen.BINDINGS)),
        ("Submit form", _rows(SubmitScreen.BINDINGS)),
        ("Drain / shutdown dialog", _rows(ShutdownScreen.BINDINGS)),
        ("Confirmation", _rows(ConfirmScreen.BINDINGS)),
        ("Bulk action dialog", _rows(BulkScreen.BINDINGS)),
        ("Error groups", _rows(ErrorGroupsScreen.BINDINGS)),
    ]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "app.pop_screen", "Close help", key_display="esc")]

    def __init__(self, options: Options) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(self.keys_table())
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "gdw keys"
        self.query_one("#help").border_subtitle = "esc closes"

    def keys_table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", justify="right", no_wrap=True)
        table.add_column()
        for area, rows in areas():
            table.add_row(Text(area, style="bold underline"), "")
            for keys, words in rows:
                table.add_row(keys, words)
            table.add_row("", "")
        if self.options.read_only:
            table.add_row("", Text("read-only: submit, cancel, retry, purge, pause and drain are off", style="yellow"))
        return table
