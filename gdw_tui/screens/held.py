"""What one worker holds (``enter`` on a worker): each task of its last heartbeat's ``held`` list
with where it is now. For a dead worker that is the truthful account of what it left behind: a
task still leased to it waits for lease recovery (it is not lost); one already recovered shows
its new state. Reads at most DEAD_HOLDINGS_MAX records."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from gdw_core.errors import TaskNotFound
from gdw_core.inspect import DEAD_HOLDINGS_MAX
from gdw_core.status import LEASED
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.source import DataSource
from gdw_tui.widgets.synced import Cell, SyncedTable


class HeldTable(SyncedTable):
    COLUMNS = (("id", "task"), ("name", "name"), ("state", "now"), ("what", "what that means"))


class HeldScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "app.pop_screen", "Close", key_display="esc")]

    def __init__(self, worker: WorkerInfo, source: DataSource) -> None:
        super().__init__()
        self.worker = worker
        self.source = source

    def compose(self) -> ComposeResult:
        with Vertical(id="held"):
            yield Static(id="held-note")
            yield HeldTable(id="held-table")
        yield Footer()

    def on_mount(self) -> None:
        w = self.worker
        state = fmt.worker_state_of(w, self.source.now())
        box = self.query_one("#held")
        box.border_title = safe.clean(f"worker {w.id} · {state}")
        box.border_subtitle = "esc closes"
        self.run_worker(self._read(state), group="held", exclusive=True)

    async def _read(self, state: str) -> None:
        w = self.worker
        note = self.query_one("#held-note", Static)
        seen = f"{fmt.ago(self.source.now() - w.last_seen)} ago"
        if not w.held:
            note.update(Text(f"held nothing at its last heartbeat ({seen})", style="dim italic"))
            return
        rows: list[tuple[str, list[Cell]]] = []
        waiting = 0
        for task_id in w.held[:DEAD_HOLDINGS_MAX]:
            try:
                rec = await self.source.task(task_id)
            except TaskNotFound:
                rows.append((task_id, [safe.text(task_id), "", Text("gone", style="dim"), "retention removed it"]))
                continue
            except Exception as exc:
                rows.append((task_id, [safe.text(task_id), "", Text("unreadable", style="red"), safe.text(str(exc))]))
                continue
            mine = rec.status in LEASED and rec.worker == w.id
            if mine and state == "dead":
                waiting += 1
                meaning = Text("leased to it: lease recovery returns it", style="bold red")
            elif mine:
                meaning = Text("held by this worker")
            else:
                meaning = Text(f"moved on (now {rec.status}" + (f" on {rec.worker})" if rec.worker else ")"), "dim")
            rows.append(
                (
                    task_id,
                    [safe.text(task_id), safe.text(rec.name, "bold"), fmt.status_text(str(rec.status)), meaning],
                )
            )
        self.query_one("#held-table", HeldTable).sync(rows)
        more = len(w.held) - DEAD_HOLDINGS_MAX
        words = f"{len(w.held)} task(s) held at its last heartbeat ({seen})"
        if state == "dead":
            words += f"; {waiting} still wait for lease recovery, nothing is lost"
        if more > 0:
            words += f"; the first {DEAD_HOLDINGS_MAX} are shown"
        note.update(Text(words, style="bold red" if waiting else ""))
