"""How task, worker and queue values read on screen. Pure functions of a record and "now"."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from gdw_core.duration import format_duration
from gdw_core.record import TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import safe

STATUS_STYLE: dict[str, str] = {
    "scheduled": "cyan",
    "pending": "yellow",
    "running": "bold blue",
    "retrying": "bold magenta",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "dim",
}

#: display order of states (tabs, bars, counts)
STATES: tuple[TaskStatus, ...] = (
    TaskStatus.PENDING,
    TaskStatus.SCHEDULED,
    TaskStatus.RUNNING,
    TaskStatus.RETRYING,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
)

SHORT_LABEL: dict[str, str] = {
    "pending": "pending",
    "scheduled": "sched",
    "running": "running",
    "retrying": "retry",
    "completed": "done",
    "failed": "failed",
    "cancelled": "cancel",
}

#: a worker whose heartbeat is older than this many seconds is marked stale
STALE_AFTER = 5.0

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
    return format_duration(max(0.0, seconds))


def timing_text(rec: TaskRecord, now: float) -> Text:
    """Age / elapsed vs timeout / countdown, depending on the state."""
    st = rec.status
    if st is TaskStatus.RUNNING and rec.started_at is not None:
        elapsed = now - rec.started_at
        if rec.timeout:
            style = "bold red" if elapsed > rec.timeout else ("yellow" if elapsed > 0.8 * rec.timeout else "")
            return Text(f"{ago(elapsed)} / {format_duration(rec.timeout)}", style=style)
        return Text(f"{ago(elapsed)} running")
    if st is TaskStatus.RETRYING:
        nxt = min(rec.attempts + 1, rec.max_attempts)
        return Text(f"retry {nxt}/{rec.max_attempts} in {ago(rec.run_at - now)}", style="magenta")
    if st is TaskStatus.SCHEDULED:
        return Text(f"runs in {ago(rec.run_at - now)}", style="cyan")
    if st is TaskStatus.PENDING:
        since = max(rec.created_at, rec.run_at) if rec.run_at else rec.created_at
        return Text(f"waiting {ago(now - since)}")
    if rec.finished_at is not None:
        took = f" took {ago(rec.finished_at - rec.started_at)}" if rec.started_at else ""
        return Text(f"{ago(now - rec.finished_at)} ago{took}", style="dim")
    return Text(f"age {ago(now - rec.created_at)}")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


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


def stacked_bar(counts: dict[str, int], width: int) -> Text:
    """One bar whose segments are the states' shares (non-empty states get at least one cell)."""
    total = sum(counts.get(str(s), 0) for s in STATES)
    bar = Text()
    if total <= 0:
        return Text("·" * width, style="dim")
    used = 0
    for s in STATES:
        n = counts.get(str(s), 0)
        if n <= 0:
            continue
        cells = max(1, round(width * n / total))
        cells = min(cells, width - used)
        if cells <= 0:
            break
        bar.append("█" * cells, style=STATUS_STYLE[str(s)].replace("bold ", ""))
        used += cells
    if used < width:
        bar.append(" " * (width - used))
    return bar


def worker_is_stale(w: WorkerInfo, now: float) -> bool:
    return w.state != "stopped" and now - w.last_seen > STALE_AFTER


def clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def in_from_now(ts: float, now: float) -> str:
    delta = ts - now
    return f"in {ago(delta)}" if delta >= 0 else f"{ago(-delta)} ago"
