"""Per-queue charts: finished tasks per second (from the event stream), wait time p50 / p99 (how
long recently started tasks sat due, sampled in storage at each refresh) and depth (waiting
tasks, from the counters), over the last minute. Bounded: what the dashboard's history keeps."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from gdw_core import display
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.history import WINDOW, History
from gdw_tui.messages import StorageChanged
from gdw_tui.source import DataSource
from gdw_tui.widgets.synced import Cell, SyncedTable


class ChartsTable(SyncedTable):
    COLUMNS = (
        ("queue", "queue"),
        ("done", "done/s"),
        ("rate", "now"),
        ("wait", "wait p50"),
        ("p50", "p50"),
        ("p99", "p99"),
        ("depth", "waiting"),
        ("n", "now"),
    )


class QueueChartsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,w", "app.pop_screen", "Close", key_display="esc")]

    def __init__(self, source: DataSource, history: History) -> None:
        super().__init__()
        self.source = source
        self.history = history

    def compose(self) -> ComposeResult:
        with Vertical(id="charts"):
            yield Static(id="charts-note")
            yield ChartsTable(id="charts-table")
        yield Footer()

    def on_mount(self) -> None:
        box = self.query_one("#charts")
        box.border_title = f"queues · last {WINDOW}s"
        box.border_subtitle = "esc closes"
        self.set_interval(1.0, self.show)
        self.show()

    def on_storage_changed(self, message: StorageChanged) -> None:
        self.show()

    def show(self) -> None:
        now = self.source.now()
        table = self.query_one("#charts-table", ChartsTable)
        # from the terminal's width (known at once), not the table's (0 until it is laid out)
        room = min(160, self.app.size.width) - 4
        spark_w = max(8, min(30, (room - 50) // 3))
        rows: list[tuple[str, list[Cell]]] = []
        for name, charts in sorted(self.history.queues.items()):
            done = fmt.squeeze(charts.throughput.series(now, "done"), spark_w)
            waits = fmt.squeeze(charts.wait_p50.series(now), spark_w, mean=False)
            depth = fmt.squeeze(charts.waiting.series(now), spark_w, mean=False)
            p50, p99, deep = charts.wait_p50.latest(), charts.wait_p99.latest(), charts.waiting.latest()
            rows.append(
                (
                    name,
                    [
                        safe.text(safe.shorten(name, 24), "bold"),
                        Text(fmt.spark(done, spark_w, max([*done, 1.0])), style="green"),
                        f"{charts.throughput.rate(now, 'done'):.1f}/s",
                        Text(fmt.spark(waits, spark_w, max([*waits, 1e-9])), style="yellow"),
                        "-" if p50 is None else display.duration(p50),
                        "-" if p99 is None else display.duration(p99),
                        Text(fmt.spark(depth, spark_w, max([*depth, 1.0])), style="cyan"),
                        "-" if deep is None else str(int(deep)),
                    ],
                )
            )
        table.sync(rows)
        note = self.query_one("#charts-note", Static)
        if rows:
            note.update(
                Text(
                    "done/s from the event stream; wait = how long recently started tasks sat due (storage "
                    "sample at each refresh); waiting = pending + scheduled + retrying",
                    style="dim",
                )
            )
        else:
            note.update(Text("no queues seen yet", style="dim italic"))
