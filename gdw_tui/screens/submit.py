"""The submit form: a registered task name, JSON arguments checked as you type, and when to run
(now / in / at / every / cron) with a preview of the next fire times. The form scrolls on a small
terminal, so every field and button stays reachable. With no live worker to say what it runs, the
task name is typed."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from gdw_core.errors import GdwError
from gdw_tui import safe
from gdw_tui.submitting import WHEN_KINDS, SubmitRequest, When, describe_times, parse_args, parse_when

PLACEHOLDER = {
    "now": "",
    "in": "e.g. 30s, 5m, 1h30m",
    "at": "e.g. 2026-12-01T09:00:00Z",
    "every": "e.g. 10s, 5m, 1h",
    "cron": "e.g. */5 * * * *",
}


class SubmitScreen(ModalScreen[SubmitRequest | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Back"), Binding("ctrl+s", "send", "Submit")]

    def __init__(self, names: list[str], now: Callable[[], float], queue: str) -> None:
        super().__init__()
        self.names = names
        self.now = now
        self.default_queue = queue

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="wide"):
            yield Static("Submit a task", classes="dialog-title")
            if self.names:
                yield Label("task")
                yield Select([(safe.clean(n), n) for n in self.names], allow_blank=False, id="name")
            else:
                yield Label("task (no live worker advertises its tasks: type module:function)")
                yield Input(placeholder="demo_tasks:fast", id="name")
            yield Label('arguments, JSON: [1, "a"] args · {"x": 1} kwargs · {"args": [..], "kwargs": {..}}')
            yield Input(placeholder="[]", id="args")
            yield Static(id="args-check", classes="check")
            with Horizontal(classes="row"):
                yield Select([(k, k) for k in WHEN_KINDS], value="now", allow_blank=False, id="when-kind")
                yield Input(placeholder="", id="when", disabled=True)
            yield Static(id="when-check", classes="check")
            with Horizontal(classes="row"):
                yield Label("queue ")
                yield Input(self.default_queue, id="queue")
                yield Checkbox("secret (redact args)", id="secret")
            with Horizontal(classes="buttons"):
                yield Button("Submit (ctrl+s)", variant="success", id="send")
                yield Button("Back", id="back")

    def on_mount(self) -> None:
        self.query_one("#args" if self.names else "#name", Input).focus()
        self._check_args()
        self._check_when()

    # -- validation as you type -----------------------------------------------------------------
    @on(Input.Changed, "#args")
    def _check_args(self) -> bool:
        box = self.query_one("#args-check", Static)
        try:
            args, kwargs = parse_args(self.query_one("#args", Input).value)
        except ValueError as exc:
            box.update(Text(f"✖ {safe.clean(exc)}", style="bold red"))
            self.query_one("#args", Input).add_class("-invalid")
            return False
        self.query_one("#args", Input).remove_class("-invalid")
        box.update(Text(f"✔ {len(args)} arg(s), {len(kwargs)} kwarg(s)", style="green"))
        return True

    @on(Select.Changed, "#when-kind")
    def _kind_changed(self) -> None:
        kind = str(self.query_one("#when-kind", Select).value)
        box = self.query_one("#when", Input)
        box.disabled = kind == "now"
        box.placeholder = PLACEHOLDER[kind]
        if kind != "now":
            box.focus()
        self._check_when()

    @on(Input.Changed, "#when")
    def _check_when(self) -> When | None:
        kind = str(self.query_one("#when-kind", Select).value)
        box = self.query_one("#when-check", Static)
        text = self.query_one("#when", Input).value
        if kind != "now" and not text.strip():
            box.update(Text(PLACEHOLDER[kind], style="dim"))
            return None
        try:
            when = parse_when(kind, text)
            times = when.preview(self.now())
        except (GdwError, ValueError) as exc:
            box.update(Text(f"✖ {safe.clean(exc)}", style="bold red"))
            return None
        label = "runs now" if kind == "now" else f"next: {describe_times(times)}"
        box.update(Text(f"✔ {label}", style="green"))
        return when

    # -- sending --------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.dismiss(None)
        else:
            self.action_send()

    def action_send(self) -> None:
        widget = self.query_one("#name")
        name = widget.value.strip() if isinstance(widget, Input) else getattr(widget, "value", None)
        if not isinstance(name, str) or not name:
            self.notify("pick a task name first", severity="warning")
            return
        if not self._check_args():
            self.notify("the arguments are not valid JSON", severity="error")
            return
        when = self._check_when()
        if when is None:
            self.notify("the schedule is not valid", severity="error")
            return
        args, kwargs = parse_args(self.query_one("#args", Input).value)
        queue = self.query_one("#queue", Input).value.strip() or None
        secret = self.query_one("#secret", Checkbox).value
        self.dismiss(SubmitRequest(name, args, kwargs, when, queue, secret))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
