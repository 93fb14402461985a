"""Following a graceful shutdown after it was asked for: who is draining, what they still hold,
how long until the rest is interrupted (and given back as retryable)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from gdw_core.duration import format_duration
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import safe


@dataclass(slots=True)
class Drain:
    worker: str | None  # None = all workers
    deadline: float  # storage clock
    immediate: bool = False
    known: frozenset[str] = frozenset()  # the workers that were live when it was asked

    @property
    def label(self) -> str:
        return "all workers" if self.worker is None else f"worker {self.worker}"

    def targets(self, workers: list[WorkerInfo]) -> list[WorkerInfo]:
        return [
            w
            for w in workers
            if w.state not in ("stopped", "dead")
            and (w.id == self.worker if self.worker is not None else w.id in self.known)
        ]

    def finished(self, workers: list[WorkerInfo]) -> bool:
        return not self.targets(workers)

    def banner(self, workers: list[WorkerInfo], now: float) -> Text:
        targets = self.targets(workers)
        busy = sum(w.busy for w in targets)
        left = self.deadline - now
        out = Text("⏻ draining ", style="bold yellow")
        out.append(safe.clean(self.label), style="bold")
        out.append(f": {len(targets)} worker(s) still up, {busy} task(s) in flight, ")
        if self.immediate:
            out.append("stopping now", style="bold red")
        elif left > 0:
            out.append(f"{format_duration(left)} left", style="bold")
            out.append(" before the rest is interrupted and given back as retryable", style="dim")
        else:
            out.append("time is up: interrupting the rest", style="bold red")
        return out
