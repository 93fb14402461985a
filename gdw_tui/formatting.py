"""How task, worker and queue values read on screen. Pure functions of a record and "now".
State names, short labels and colours come from :mod:`gdw_core.display` (shared with the CLI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from gdw_core import display, workerinfo
from gdw_core.lifecycle import worker_state
from gdw_core.record import TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import QueueInfo
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import safe

STATUS_STYLE = display.STATUS_STYLE
SHORT_LABEL = display.SHORT_LABEL
#: display order of states (tabs, bars, counts): the shared table's order, then any state of the
#: enum the table does not list yet (so a new state shows up by itself, under its own name)
STATES: tuple[TaskStatus, ...] = tuple(look.status for look in display.STATES) + tuple(
    s for s in TaskStatus if s not in {look.status for look in display.STATES}
)


def short_label(status: TaskStatus | str) -> str:
    return SHORT_LABEL.get(str(status), str(status))


def tiny_label(status: TaskStatus | str) -> str:
    return display.TINY_LABEL.get(str(status), str(status)[:5])


def status_style(status: TaskStatus | str) -> str:
    return STATUS_STYLE.get(str(status), "")


SPARK = "▁▂▃▄▅▆▇█"


def short_id(task_id: str, width: int = 12) -> str:
    return safe.shorten(safe.clean(task_id), width)


def args_text(rec: TaskRecord, width: int = 40) -> Text:
    if rec.secret:
        return Text("(redacted)", style="italic dim")
    parts = [safe.json_text(a) for a in rec.args]
    parts += [f"{safe.clean(k)}={safe.json_text(v)}" for k, v in rec.kwargs.items()]
    return safe.text(safe.shorten(", ".join(parts), width))


def attempt_text(rec: TaskRecord) -> str:
    return f"{rec.attempts}/{rec.max_attempts}"


def ago(seconds: float) -> str:
    """A duration (milliseconds below a second)."""
    return display.duration(seconds)


def timing_text(rec: TaskRecord, now: float) -> Text:
    """Age / elapsed vs timeout / countdown, depending on the state."""
    st = rec.status
    if st is TaskStatus.RUNNING and rec.started_at is not None:
        elapsed = now - rec.started_at
        if rec.timeout:
            style = "bold red" if elapsed > rec.timeout else ("yellow" if elapsed > 0.8 * rec.timeout else "")
            return Text(f"{ago(elapsed)} / {ago(rec.timeout)}", style=style)
        return Text(f"{ago(elapsed)} running")
    if st is TaskStatus.CLAIMED:
        return Text(f"claimed, waiting {ago(now - max(rec.created_at, rec.run_at or 0.0))}", style="blue")
    if st is TaskStatus.RETRYING:
        nxt = min(rec.attempts + 1, rec.max_attempts)
        return Text(f"retry {nxt}/{rec.max_attempts} in {ago(rec.run_at - now)}", style="magenta")
    if st is TaskStatus.SCHEDULED:
        return Text(f"runs in {ago(rec.run_at - now)}", style="cyan")
    if st is TaskStatus.THROTTLED:  # its run_at is when a claim tries it again
        return Text(f"next try in {ago(max(0.0, rec.run_at - now))}", style="yellow")
    if st is TaskStatus.BLOCKED:
        return Text(f"waits for {rec.waiting or len(rec.parents)} parent(s)", style="cyan")
    if st is TaskStatus.PENDING:
        since = max(rec.created_at, rec.run_at) if rec.run_at else rec.created_at
        return Text(f"waiting {ago(now - since)}")
    if rec.finished_at is not None:
        took = f" took {ago(rec.finished_at - rec.started_at)}" if rec.started_at else ""
        return Text(f"{ago(now - rec.finished_at)} ago{took}", style="dim")
    return Text(f"age {ago(now - rec.created_at)}")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def squeeze(values: list[float], width: int, mean: bool = True) -> list[float]:
    """``values`` folded into ``width`` equal buckets (their mean, or their max), so a short
    sparkline still spans the whole window."""
    if len(values) <= width or width <= 0:
        return list(values)
    step = len(values) / width
    out: list[float] = []
    for i in range(width):
        part = values[int(i * step) : int((i + 1) * step)] or [0.0]
        out.append(sum(part) / len(part) if mean else max(part))
    return out


def spark(values: list[float], width: int, top: float | None = None) -> str:
    """A one-line sparkline of the last ``width`` values (0..top)."""
    vals = values[-width:]
    if not vals:
        return " " * width
    peak = top if top is not None else max(vals)
    out = []
    for v in vals:
        idx = 0 if peak <= 0 else round((len(SPARK) - 1) * min(1.0, max(0.0, v / peak)))
        out.append(SPARK[idx])
    return "".join(out).rjust(width)


def stacked_bar(counts: Mapping[str, int], width: int) -> Text:
    """One bar whose segments are the states' shares (non-empty states get at least one cell)."""
    total = sum(counts.get(str(s), 0) for s in STATES)
    bar = Text()
    if total <= 0:
        return Text("·" * width, style="dim")
    used = 0
    for look in display.STATES:
        n = counts.get(str(look.status), 0)
        if n <= 0:
            continue
        cells = max(1, round(width * n / total))
        cells = min(cells, width - used)
        if cells <= 0:
            break
        bar.append("█" * cells, style=look.colour)
        used += cells
    if used < width:
        bar.append(" " * (width - used))
    return bar


# -- progress -------------------------------------------------------------------------------------
def progress_fraction(progress: Any) -> tuple[float, str] | None:
    """``(fraction done, label)`` from what a task reported: ``{"done": 12, "of": 30}``,
    ``{"percent": 40}``, a number 0..1, or None when it is not a proportion."""
    try:
        if isinstance(progress, Mapping):
            if "of" in progress and "done" in progress:
                done, of = float(progress["done"]), float(progress["of"])
                if of > 0:
                    return min(1.0, max(0.0, done / of)), f"{progress['done']}/{progress['of']}"
            if "percent" in progress:
                pct = float(progress["percent"])
                return min(1.0, max(0.0, pct / 100)), f"{pct:g}%"
        elif isinstance(progress, int | float) and not isinstance(progress, bool) and 0 <= progress <= 1:
            return float(progress), f"{progress:.0%}"
    except (TypeError, ValueError):
        return None
    return None


def progress_bar(rec: TaskRecord, now: float, width: int = 10, room: int = 1000) -> Text | None:
    """A bar with the count, the share and an ETA (from the time spent so far), or None when the
    task's progress is not a proportion. In ``room`` cells the share, then the ETA, are left out
    first; the ETA is kept before the share when only one fits."""
    found = progress_fraction(rec.progress)
    if found is None:
        return None
    fraction, label = found
    cells = round(width * fraction)
    out = Text()
    out.append("█" * cells, style="bright_blue")
    out.append("░" * (width - cells), style="blue")
    out.append(f" {label}")
    share = f" {fraction:.0%}"
    eta = ""
    if rec.started_at is not None and 0 < fraction < 1:
        elapsed = max(0.0, now - rec.started_at)
        eta = f" ETA {ago(elapsed / fraction - elapsed)}"
    if len(out) + len(share) + len(eta) <= room:
        out.append(share)
    if eta and len(out) + len(eta) <= room:
        out.append(eta, style="dim")
    return out


# -- workers --------------------------------------------------------------------------------------
def worker_state_of(w: WorkerInfo, now: float) -> str:
    """running | draining | stopped | dead (a stale heartbeat without a goodbye)."""
    return worker_state(w, now)


def worker_is_stale(w: WorkerInfo, now: float) -> bool:
    return worker_state_of(w, now) == "dead"


def worker_is_live(w: WorkerInfo, now: float) -> bool:
    return worker_state_of(w, now) in ("running", "draining")


def failing_queues(workers: Sequence[WorkerInfo], now: float, queues: Sequence[QueueInfo] = ()) -> dict[str, str]:
    """Queues whose claims or outcomes fail on a live worker, or with an index that cannot be read
    (a key of theirs holds garbage), with a reason."""
    return workerinfo.failing_queues((w for w in workers if worker_is_live(w, now)), queues)


def worker_state_text(w: WorkerInfo, now: float) -> Text:
    state = worker_state_of(w, now)
    return Text(state, style=display.WORKER_STYLE.get(state, ""))


def clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def in_from_now(ts: float, now: float) -> str:
    delta = ts - now
    return f"in {ago(delta)}" if delta >= 0 else f"{ago(-delta)} ago"
