"""A bulk action's one dialog: it counts what the action acts on (in storage), asks with that
count, shows progress while the engine works through it in bounded batches, and ends with the
truthful summary (done, skipped with reasons). Dismisses with the summary (None: nothing ran)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static

from gdw_core import bulk as B
from gdw_core.queue import TaskQueue
from gdw_tui import bulkplan, safe
from gdw_tui.bulkplan import Plan, Prepared


class BulkScreen(ModalScreen[B.Summary | None]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No / close"),
    ]

    def __init__(self, queue: TaskQueue, plan: Plan) -> None:
        super().__init__()
        self.queue = queue
        self.plan = plan
        self.prepared: Prepared | None = None
        self.summary: B.Summary | None = None
        #: "counting" -> "asking" -> "running" -> "done"
        self.stage = "counting"

    def compose(self) -> ComposeResult:
        verb = bulkplan.WORDS[self.plan.action][0]
        with Vertical(id="dialog", classes="wide"):
            yield Static(f"{verb}: {safe.markup(self.plan.what())}", classes="dialog-title", id="bulk-title")
            yield Static("counting in storage…", id="question")
            yield ProgressBar(id="bulk-progress", show_eta=False)
            yield Static(id="bulk-result")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#bulk-progress", ProgressBar).display = False
        self.query_one("#yes", Button).display = False
        self.query_one("#no", Button).focus()
        self.run_worker(self._count(), group="bulk")

    async def _count(self) -> None:
        question = self.query_one("#question", Static)

        def counting(looked_at: int, matched: int) -> None:
            question.update(f"counting in storage… {looked_at:,} looked at, {matched:,} match (esc stops)")

        try:
            prepared = await bulkplan.prepare(self.queue, self.plan, counting)
        except Exception as exc:
            self._finish_words(f"nothing changed: {type(exc).__name__}: {exc}")
            return
        self.prepared = prepared
        if prepared.count == 0:
            self._finish_words("nothing matches; nothing changed")
            return
        self.stage = "asking"
        question.update(safe.markup(prepared.question()))
        self.query_one("#yes", Button).display = True

    def _finish_words(self, words: str) -> None:
        self.stage = "done"
        self.query_one("#question", Static).update(safe.markup(words))
        self._closing_button()

    def _closing_button(self) -> None:
        self.query_one("#yes", Button).display = False
        close = self.query_one("#no", Button)
        close.label = "Close (esc)"
        close.focus()

    async def _run(self) -> None:
        prepared = self.prepared
        assert prepared is not None
        bar = self.query_one("#bulk-progress", ProgressBar)
        bar.display = True
        bar.update(total=max(1, prepared.count), progress=0)
        result = self.query_one("#bulk-result", Static)

        def tick(summary: B.Summary) -> None:
            bar.update(progress=min(summary.total, max(1, prepared.count)))
            result.update(f"{summary.total} of {prepared.count} looked at · {summary.done} done")

        try:
            summary = await bulkplan.execute(self.queue, prepared, tick)
        except Exception as exc:
            self._finish_words(f"stopped: {type(exc).__name__}: {exc} (what was done before stays done)")
            return
        self.summary = summary
        self.query_one("#question", Static).update(safe.markup(f"finished: {self.plan.what()}"))
        bar.update(total=max(1, summary.total), progress=max(1, summary.total))
        words = bulkplan.outcome(summary)
        result.update(safe.text(words.message, "yellow" if words.severity == "warning" else "green"))
        self.stage = "done"
        self._closing_button()

    def action_answer(self, yes: bool) -> None:
        if self.stage == "running":
            self.notify("the action runs to its end; its summary follows", severity="warning", timeout=2)
            return
        if self.stage == "asking" and yes:
            self.stage = "running"
            self.query_one("#yes", Button).display = False
            self.query_one("#no", Button).display = False
            self.query_one("#question", Static).update(safe.markup(f"working… {self.plan.what()}"))
            self.run_worker(self._run(), group="bulk")
            return
        if self.stage == "counting" and yes:
            return
        self.dismiss(self.summary)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")
