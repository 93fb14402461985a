"""Choose which worker(s) to shut down, see what they hold in flight, and confirm. The dialog
scrolls on a small terminal, so its timeout box and buttons are always reachable."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from gdw_core.duration import parse_duration
from gdw_core.errors import GdwError
from gdw_core.status import TaskStatus
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import safe
from gdw_tui.actions import ShutdownChoice
from gdw_tui.source import DataSource

ALL = "__all__"

__all__ = ["ShutdownChoice", "ShutdownScreen"]


class ShutdownScreen(ModalScreen[ShutdownChoice | None]):
    BINDINGS = [
        Binding("escape", "dismiss_none", "Back"),
        Binding("ctrl+d", "choose(False)", "Drain"),
        Binding("ctrl+x", "choose(True)", "Stop now"),
    ]

    def __init__(self, workers: list[WorkerInfo], source: DataSource, preselect: str | None = None) -> None:
        super().__init__()
        self.live_workers = workers
        self.source = source
        self.preselect = preselect

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="wide"):
            yield Static("Shut down workers", classes="dialog-title")
            options = [Option(Text(f"all workers ({len(self.live_workers)})", style="bold"), id=ALL)]
            for w in self.live_workers:
                label = Text.assemble(
                    safe.text(w.id, "bold"),
                    f"  {safe.clean(w.host)} pid {w.pid}  busy {w.busy} claimed {w.claimed} of {w.concurrency}",
                )
                options.append(Option(label, id=w.id))
            yield OptionList(*options, id="targets")
            yield Static(id="chosen")
            with Horizontal(classes="row"):
                yield Label("drain timeout ")
                yield Input("30s", id="timeout")
            yield Static(id="timeout-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Drain (^d)", variant="warning", id="drain")
                yield Button("Stop now (^x)", variant="error", id="now")
                yield Button("Back", id="back")
            yield Label("in flight (running ones finish first; claimed ones go back to pending, no attempt spent):")
            yield Static(id="inflight")

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
        worker = self.chosen
        who = "all workers" if worker is None else f"worker {worker}"
        self.query_one("#chosen", Static).update(Text.assemble("will shut down: ", (safe.clean(who), "bold yellow")))
        box = self.query_one("#inflight", Static)
        try:
            held = await self.source.running_tasks()
        except Exception as exc:
            box.update(Text(safe.clean(f"cannot read running tasks: {exc}"), style="red"))
            return
        mine = [t for t in held if worker is None or t.worker == worker]
        if not mine:
            box.update(Text("nothing running or claimed", style="dim"))
            return
        out = Text()
        for t in mine[:12]:
            out.append(safe.shorten(safe.clean(t.id), 14), style="bold")
            state = "claimed" if t.status is TaskStatus.CLAIMED else "running"
            out.append(f"  {state}  {safe.shorten(safe.clean(t.name), 30)}  attempt {t.attempts}/{t.max_attempts}\n")
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
        self.action_choose(event.button.id == "now")

    def action_choose(self, immediate: bool) -> None:
        timeout = self._timeout()
        if timeout is not None:
            self.dismiss(ShutdownChoice(self.chosen, timeout, immediate=immediate))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
