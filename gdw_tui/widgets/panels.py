"""Small status panels: the connection badge, throughput, and the drain banner."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from gdw_core.status import WAITING
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.history import Throughput
from gdw_tui.source import Snapshot


class ConnectionBadge(Static):
    """``connected`` / ``disconnected`` / ``connecting``. The full reason of a disconnection is
    shown on its own line under the status bar (#conn-error), never cut."""

    state: reactive[str] = reactive("connecting", layout=True)

    def __init__(self, address: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.address = address

    def render(self) -> Text:
        label = {"connected": "● connected", "disconnected": "✖ disconnected", "connecting": "… connecting"}
        style = {"connected": "bold green", "disconnected": "bold white on red", "connecting": "bold yellow"}
        out = Text.assemble((f" {label.get(self.state, self.state)} ", style.get(self.state, "")), " ")
        out.append(safe.clean(self.address), style="dim")
        return out

    def watch_state(self, state: str) -> None:
        self.set_class(state == "disconnected", "-disconnected")


class ThroughputPanel(Static):
    """Completed and failed per second over the last minute, and the current rates."""

    def show(self, history: Throughput, now: float, width: int = 36) -> None:
        done = history.series(now, "done")
        failed = history.series(now, "failed")
        top = max([*done, *failed, 1.0])
        out = Text()
        out.append("done/s   ", style="bold")
        out.append(fmt.spark(fmt.squeeze(done, width), width, top), style="green")
        out.append(f" {history.rate(now, 'done'):6.1f}\n")
        out.append("failed/s ", style="bold")
        out.append(fmt.spark(fmt.squeeze(failed, width), width, top), style="red")
        out.append(f" {history.rate(now, 'failed'):6.1f}\n")
        out.append(f"last {len(done)}s, peak {top:g}/s", style="dim")
        self.update(out)


class DrainBanner(Static):
    """Shown while a shutdown is draining: who, how many tasks still in flight, time left."""

    def show(self, text: Text | None) -> None:
        self.display = text is not None
        if text is not None:
            self.update(text)


def summary_text(snap: Snapshot, read_only: bool) -> Text:
    """The status line: live workers and busy slots, dead ones, what waits, the oldest pending
    task, paused queues, read-only."""
    counts = snap.counts()
    paused = [q.name for q in snap.queues if q.paused]
    oldest = [q.oldest_pending_at for q in snap.queues if q.oldest_pending_at]
    live = [w for w in snap.workers if fmt.worker_is_live(w, snap.now)]
    dead = [w for w in snap.workers if fmt.worker_state_of(w, snap.now) == "dead"]
    out = Text()
    out.append(f"{len(live)} worker(s) ", style="bold")
    out.append(f"{sum(w.busy for w in live)}/{sum(w.concurrency for w in live)} busy  ")
    if dead:
        out.append(f"{len(dead)} dead  ", style="bold red")
    failing = fmt.failing_queues(snap.workers, snap.now, snap.queues)  # an alarm: before what may be cut at 80 columns
    if failing:
        out.append("FAILING: " + ", ".join(safe.clean(q) for q in sorted(failing)), style="bold red reverse")
        out.append("  ")
    out.append(f"waiting {sum(counts.get(str(s), 0) for s in WAITING)}  ")
    if oldest:
        out.append(f"oldest pending {fmt.ago(snap.now - min(oldest))}  ", style="yellow")
    if paused:
        out.append("PAUSED: " + ", ".join(safe.clean(p) for p in paused), style="bold yellow reverse")
    if read_only:
        out.append("  read-only", style="bold cyan")
    return out
