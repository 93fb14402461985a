"""``L``: the named limits (gdw_core.flow) — each one's use against its capacity, the rate's next
free start, tasks waiting for a slot — and how many tasks each queue holds throttled. Read through
the queue's public API (``queue.limits.list()``, ``inspect``), refreshed every second."""

from __future__ import annotations

import contextlib

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from gdw_core.flow.limit import LimitUse
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import QueueInfo
from gdw_tui import safe
from gdw_tui.source import DataSource

THROTTLED = str(TaskStatus.THROTTLED)


def bar(used: int, capacity: int, width: int = 10) -> Text:
    filled = min(width, round(width * used / capacity)) if capacity else 0
    style = "bold red" if used >= capacity else "green"
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")


def limits_table(uses: list[LimitUse]) -> Table:
    t = Table(box=None, header_style="bold underline", pad_edge=False, padding=(0, 2, 0, 0))
    for col in ("limit", "rate", "burst", "running", "", "waiting", "next start"):
        t.add_column(col)
    for u in uses:
        s = u.spec
        cap = s.concurrency or 0
        nxt = "-" if s.rate is None else ("now" if u.next_start_in <= 0 else f"in {u.next_start_in:.1f}s")
        t.add_row(
            Text(safe.clean(s.name)),
            Text("-" if s.rate is None else str(s.rate)),
            Text(str(s.burst) if s.rate else "-"),
            Text(f"{u.holding}/{cap}" if cap else "-"),
            bar(u.holding, cap) if cap else Text(""),
            Text(str(u.waiting) if cap else "-"),
            Text(nxt),
        )
    return t


def throttled_table(queues: list[QueueInfo]) -> Table:
    t = Table(box=None, header_style="bold underline", pad_edge=False, padding=(0, 2, 0, 0))
    t.add_column("queue")
    t.add_column("throttled", justify="right")
    for q in queues:
        t.add_row(Text(safe.clean(q.name)), Text(str(q.counts.get(THROTTLED, 0)), style="bold yellow"))
    return t


class LimitsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,L", "app.pop_screen", "Close", key_display="esc")]

    def __init__(self, source: DataSource) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="limits"):
            yield Static("reading limits…", id="limits-table")
            yield Static("", id="throttled-table")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#limits").border_title = "limits"
        self.query_one("#limits").border_subtitle = "esc closes · gdw limit set NAME --rate 100/m --concurrency 5"
        await self.refresh_limits()
        self.set_interval(1.0, self.refresh_limits)

    async def refresh_limits(self) -> None:
        queue = self.source.queue
        try:
            uses = await queue.limits.list()
            queues = await queue.inspect.queues()
        except Exception as exc:  # gone storage: say so, keep the screen
            with contextlib.suppress(Exception):
                self.query_one("#limits-table", Static).update(Text(f"cannot read limits: {exc}", style="red"))
            return
        table = self.query_one("#limits-table", Static)
        table.update(limits_table(uses) if uses else Text("no limits defined", style="dim"))
        self.query_one("#throttled-table", Static).update(throttled_table(queues))
