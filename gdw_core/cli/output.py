"""Human output (Rich tables, colours only on a terminal and without NO_COLOR) and ``--json``.

Everything read from Redis goes through :func:`clean` before it reaches the terminal: Rich markup is
never interpreted (tables get :class:`~rich.text.Text`) and control characters are shown escaped."""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gdw_core import RecurringEntry, TaskRecord, TaskStatus, WorkerInfo
from gdw_core.duration import format_duration
from gdw_core.record import DEFAULT_QUEUE

REDACTED = "<redacted>"

STATUS_STYLE: dict[str, str] = {
    "scheduled": "white",
    "pending": "blue",
    "running": "cyan",
    "retrying": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


#: column headers that fit eight columns in 80 characters
SHORT_STATE: dict[str, str] = {
    "scheduled": "sched",
    "pending": "pending",
    "running": "running",
    "retrying": "retry",
    "completed": "done",
    "failed": "failed",
    "cancelled": "cancel",
}


def make_console(stderr: bool = False) -> Console:
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=stderr, highlight=False, no_color=no_color, soft_wrap=True)


def clean(text: object) -> str:
    """``text`` with control characters (escape sequences, bells, newlines...) shown escaped."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else repr(ch)[1:-1] for ch in s)


def short(value: Any, width: int = 60) -> str:
    s = clean(json.dumps(value, ensure_ascii=False, default=str))
    return s if len(s) <= width else s[: width - 1] + "…"


def when(ts: float | None) -> str:
    if ts is None or not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def relative(ts: float | None, now: float) -> str:
    if ts is None or not ts:
        return "-"
    delta = ts - now
    if abs(delta) < 1:
        return "now"
    text = format_duration(abs(delta))
    return f"in {text}" if delta > 0 else f"{text} ago"


def status_text(status: TaskStatus | str) -> Text:
    s = str(status)
    return Text(s, style=STATUS_STYLE.get(s, ""))


def print_json(doc: Any) -> None:
    """One JSON document on stdout (stable key order, no colour)."""
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


# -- documents (--json) ------------------------------------------------------------------------------
def record_doc(rec: TaskRecord) -> dict[str, Any]:
    doc = rec.to_dict()
    if rec.secret:
        doc["args"] = REDACTED
        doc["kwargs"] = REDACTED
    doc["max_attempts"] = rec.max_attempts
    return doc


def call_text(rec: TaskRecord | RecurringEntry, width: int = 60) -> str:
    secret = rec.secret if isinstance(rec, TaskRecord) else bool(rec.task_options.get("secret"))
    if secret:
        return f"{clean(rec.name)}({REDACTED})"
    parts = [short(a, 30) for a in rec.args] + [f"{clean(k)}={short(v, 30)}" for k, v in rec.kwargs.items()]
    call = f"{clean(rec.name)}({', '.join(parts)})"
    return call if len(call) <= width else call[: width - 1] + "…"


# -- tables ------------------------------------------------------------------------------------------
def _table() -> Table:
    """A table without vertical rules: more room for the data on a narrow terminal."""
    return Table(box=None, header_style="bold underline", pad_edge=False, padding=(0, 2, 0, 0))


def _row(table: Table, *cells: Text | str) -> None:
    """Add a row; plain strings become Text, so Rich markup in data is never interpreted."""
    table.add_row(*(c if isinstance(c, Text) else Text(c) for c in cells))


def record_table(rec: TaskRecord, now: float) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    rows: list[tuple[str, Text | str]] = [
        ("id", clean(rec.id)),
        ("task", call_text(rec, 200)),
        ("status", status_text(rec.status)),
        ("queue", clean(rec.queue)),
        ("attempts", f"{rec.attempts} of {rec.max_attempts}"),
        ("priority", str(rec.priority)),
        ("created", f"{when(rec.created_at)} ({relative(rec.created_at, now)})"),
    ]
    if rec.status in (TaskStatus.SCHEDULED, TaskStatus.PENDING):
        rows.append(("runs at", f"{when(rec.run_at)} ({relative(rec.run_at, now)})"))
    if rec.status is TaskStatus.RETRYING:
        rows.append(("next retry", f"{when(rec.run_at)} ({relative(rec.run_at, now)})"))
    if rec.started_at:
        rows.append(("started", f"{when(rec.started_at)} ({relative(rec.started_at, now)})"))
    if rec.finished_at:
        rows.append(("finished", f"{when(rec.finished_at)} ({relative(rec.finished_at, now)})"))
    if rec.timeout:
        rows.append(("timeout", f"{rec.timeout:g}s"))
    if rec.worker:
        rows.append(("worker", clean(rec.worker)))
    if rec.recurring_id:
        rows.append(("recurring", clean(rec.recurring_id)))
    if rec.progress is not None:
        rows.append(("progress", short(rec.progress, 200)))
    if rec.cancel_requested and not rec.status.terminal:
        rows.append(("cancel", "requested"))
    if rec.status is TaskStatus.COMPLETED:
        rows.append(("result", short(rec.result, 400)))
    for err in rec.errors:
        label = f"attempt {err.attempt}"
        rows.append((label, Text(f"{clean(err)}  ({when(err.at)}, {clean(err.worker or '?')})", style="red")))
    for key, value in rows:
        _row(t, key, value)
    return t


def tasks_table(records: Iterable[TaskRecord], now: float, width: int = 120) -> Table:
    """One line per task; the call is cut to what ``width`` leaves after the other columns."""
    records = list(records)
    queues = {r.queue for r in records}
    show_queue = bool(queues) and queues != {DEFAULT_QUEUE}
    rows: list[list[Text | str]] = []
    for rec in records:
        if rec.status in (TaskStatus.SCHEDULED, TaskStatus.PENDING, TaskStatus.RETRYING):
            moment = relative(rec.run_at, now)
        elif rec.status is TaskStatus.RUNNING:
            moment = relative(rec.started_at, now)
        else:
            moment = relative(rec.finished_at, now)
        cells: list[Text | str] = [clean(rec.id), status_text(rec.status), "", f"{rec.attempts}/{rec.max_attempts}"]
        rows.append([*cells, moment, clean(rec.queue)] if show_queue else [*cells, moment])
    used = [max((len(str(r[i])) for r in rows), default=0) for i in range(len(rows[0]) if rows else 0)]
    fixed = sum(used) - (used[2] if used else 0) + 2 * len(used)
    room = max(8, width - fixed)
    t = _table()
    for col in ("id", "status", "task", "try", "when", "queue")[: len(used) or 5]:
        t.add_column(col, no_wrap=True, overflow="ellipsis")
    for rec, cells in zip(records, rows, strict=True):
        cells[2] = call_text(rec, room)
        _row(t, *cells)
    return t


def workers_table(workers: Iterable[WorkerInfo], now: float) -> Table:
    workers = list(workers)
    t = _table()
    t.add_column("id", no_wrap=True, min_width=max((len(clean(w.id)) for w in workers), default=2))
    for col in ("host", "pid", "state", "queues", "busy", "done", "failed", "seen", "tasks"):
        t.add_column(col, no_wrap=col != "queues", overflow="ellipsis")
    for w in workers:
        _row(
            t,
            clean(w.id),
            clean(w.host),
            str(w.pid),
            Text(clean(w.state), style="green" if w.state == "running" else "yellow"),
            clean(",".join(w.queues)),
            f"{w.busy}/{w.concurrency}",
            str(w.processed),
            str(w.failed),
            relative(w.last_seen, now),
            str(len(w.tasks)),
        )
    return t


def counts_table(rows: Mapping[str, Mapping[str, int]], paused: Mapping[str, bool]) -> Table:
    states = [str(s) for s in TaskStatus]
    t = _table()
    t.add_column("queue")
    for s in states:
        t.add_column(SHORT_STATE[s], justify="right", header_style=f"bold {STATUS_STYLE[s]}")
    for name, counts in rows.items():
        label = Text(clean(name))
        if paused.get(name):
            label.append(" (paused)", style="yellow")
        _row(t, label, *[str(counts.get(s, 0)) for s in states])
    return t


def recurring_table(entries: Iterable[RecurringEntry], now: float) -> Table:
    entries = list(entries)
    t = _table()
    t.add_column("id", no_wrap=True, min_width=max((len(clean(e.id)) for e in entries), default=2))
    t.add_column("task", no_wrap=True, overflow="ellipsis", min_width=12, ratio=1)
    for col in ("schedule", "queue", "next run", "last task"):
        t.add_column(col)
    for e in entries:
        _row(
            t,
            clean(e.id),
            call_text(e),
            clean(e.schedule_text),
            clean(e.queue),
            f"{when(e.next_run)} ({relative(e.next_run, now)})",
            clean(e.last_task_id or "-"),
        )
    return t
