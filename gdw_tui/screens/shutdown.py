"""Choose which worker(s) to shut down, see what they hold in flight, and confirm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from gdw_core.duration import parse_duration
from gdw_core.errors import GdwError
from gdw_core.status import TaskStatus
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import safe

if TYPE_CHECKING:
    from gdw_tui.app import GdwApp

ALL = "__all__"


@dataclass(frozen=True, slots=True)
class ShutdownChoice:
    worker: str | None  # None = all
    timeout: float
    immediate: bool = False


class ShutdownScreen(ModalScreen[ShutdownChoice | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, workers: list[WorkerInfo], preselect: str | None = None) -> None:
        super().__init__()
        self.live_workers = workers
        self.preselect = preselect

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static("Shut down workers", classes="dialog-title")
            options = [Option(Text(f"all workers ({len(self.live_workers)})", style="bold"), id=ALL)]
            for w in self.live_workers:
                label = Text.assemble(
                    safe.text(w.id, "bold"), f"  {safe.clean(w.host)} pid {w.pid}  busy {w.busy}/{w.concurrency}"
                )
                options.append(Option(label, id=w.id))
            yield OptionList(*options, id="targets")
            yield Static(id="chosen")
            yield Label("in flight (these finish first; after the timeout they are interrupted and retried):")
            yield Static(id="inflight")
            with Horizontal(classes="row"):
                yield Label("drain timeout ")
                yield Input("30s", id="timeout")
            yield Static(id="timeout-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Drain", variant="warning", id="drain")
                yield Button("Stop now", variant="error", id="now")
                yield Button("Back", id="back")

    def on_mount(self) -> None:
        targets = self.query_one("#targets", OptionList)
        index = 0
        for i, w in enumerate(self.live_workers, start=1):
            if w.id == self.preselect:
                index = i
        targets.highlighted = index
        targets.focus()
        self.run_worker(self._show_inflight(), exclusive=True, group="inflight")

    @property
    def chosen(self) -> str | None:
        targets = self.query_one("#targets", OptionList)
        if targets.highlighted is None:
            return None
        ident = targets.get_option_at_index(targets.highlighted).id
        return None if ident == ALL else ident

    @on(OptionList.OptionHighlighted, "#targets")
    def _target_changed(self) -> None:
        self.run_worker(self._show_inflight(), exclusive=True, group="inflight")

    async def _show_inflight(self) -> None:
        app = cast("GdwApp", self.app)
        worker = self.chosen
        who = "all workers" if worker is None else f"worker {worker}"
        self.query_one("#chosen", Static).update(Text.assemble("will shut down: ", (safe.clean(who), "bold yellow")))
        box = self.query_one("#inflight", Static)
        try:
            running = await app.queue.inspect.tasks(TaskStatus.RUNNING, app.source.queue_name, 0, 100)
        except Exception as exc:
            box.update(Text(safe.clean(f"cannot read running tasks: {exc}"), style="red"))
            return
        mine = [t for t in running if worker is None or t.worker == worker]
        if not mine:
            box.update(Text("nothing running", style="dim"))
            return
        out = Text()
        for t in mine[:12]:
            out.append(safe.shorten(safe.clean(t.id), 14), style="bold")
            out.append(f"  {safe.shorten(safe.clean(t.name), 30)}  attempt {t.attempts}/{t.max_attempts}\n")
        if len(mine) > 12:
            out.append(f"… and {len(mine) - 12} more", style="dim")
        box.update(out)

    def _timeout(self) -> float | None:
        try:
            value = parse_duration(self.query_one("#timeout", Input).value)
        except GdwError as exc:
            self.query_one("#timeout-error", Static).update(safe.text(str(exc)))
            return None
        self.query_one("#timeout-error", Static).update("")
        return value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.dismiss(None)
            return
        timeout = self._timeout()
        if timeout is None:
            return
        self.dismiss(ShutdownChoice(self.chosen, timeout, immediate=event.button.id == "now"))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
