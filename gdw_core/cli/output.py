"""Human output (Rich tables, colours only on a terminal and without NO_COLOR) and ``--json``.

Everything read from Redis goes through :func:`clean` before it reaches the terminal: Rich markup is
never interpreted (tables get :class:`~rich.text.Text`) and control characters are shown escaped."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gdw_core import RecurringEntry, TaskRecord, TaskStatus, WorkerInfo, display
from gdw_core.duration import format_duration
from gdw_core.record import DEFAULT_QUEUE

REDACTED = "<redacted>"

#: the one table of state colours and column labels, shared with the dashboard
STATUS_STYLE: dict[str, str] = display.STATUS_STYLE
#: column headers that fit nine columns in 80 characters
SHORT_STATE: dict[str, str] = display.SHORT_LABEL


def make_console(stderr: bool = False) -> Console:
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=stderr, highlight=False, no_color=no_color, soft_wrap=True)


def clean(text: object) -> str:
    """``text`` with control characters (escape sequences, bells, newlines...) shown escaped
    (the one sanitiser, :func:`gdw_core.display.clean`, in its visible form)."""
    return display.clean(text, show=True)


def short(value: Any, width: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError, TypeError) as exc:  # a value no JSON can show
        text = f"<unreadable: {type(exc).__name__}>"
    s = clean(text)
    return s if len(s) <= width else s[: width - 1] + "…"


def when(ts: float | None) -> str:
    if ts is None or not ts:
        return "-"
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, ValueError, OSError, TypeError):  # a stored time no calendar holds
        return f"{clean(ts)} (not a time)"


def relative(ts: float | None, now: float) -> str:
    if ts is None or not ts:
        return "-"
    if not isinstance(ts, (int, float)) or not math.isfinite(ts) or abs(ts - now) > 1e11:
        return "?"
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


def unreadable(rec: TaskRecord) -> str | None:
    """Why the storage could not read this record, when it handed back a stand-in for it (an
    InvalidPayload error that belongs to no attempt); None for a record that was read."""
    err = rec.last_error
    if err is not None and err.type == "InvalidPayload" and err.attempt == 0:
        return err.message or "unreadable"
    return None


# -- documents (--json) ------------------------------------------------------------------------------
_VALUE_FIELDS = ("args", "kwargs", "result", "progress")


def record_doc(rec: TaskRecord) -> dict[str, Any]:
    """The record as a JSON document; a value that cannot be printed as JSON (too deep, not
    JSON) is replaced by a note saying so, so one bad record never stops a listing."""
    doc = rec.to_dict()
    if rec.secret:
        doc["args"] = REDACTED
        doc["kwargs"] = REDACTED
    doc["max_attempts"] = rec.max_attempts
    reason = unreadable(rec)
    if reason is not None:
        doc["unreadable"] = reason
    for key in _VALUE_FIELDS:
        try:
            json.dumps(doc[key], ensure_ascii=False, default=str)
        except (RecursionError, ValueError, TypeError) as exc:
            doc[key] = f"<unreadable {key}: {type(exc).__name__}>"
    return doc


def call_text(rec: TaskRecord | RecurringEntry, width: int = 60) -> str:
    secret = rec.secret if isinstance(rec, TaskRecord) else bool(rec.task_options.get("secret"))
    if isinstance(rec, TaskRecord):
        reason = unreadable(rec)
        if reason is not None:
            call = f"unreadable record: {clean(reason)}"
            return call if len(call) <= width else call[: width - 1] + "…"
    if secret:
        return f"{clean(rec.name)}({REDACTED})"
    args = rec.args if isinstance(rec.args, list) else [rec.args]
    kwargs = rec.kwargs if isinstance(rec.kwargs, dict) else {"?": rec.kwargs}
    parts = [short(a, 30) for a in args] + [f"{clean(k)}={short(v, 30)}" for k, v in kwargs.items()]
    call = f"{clean(rec.name)}({', '.join(parts)})"
    return call if len(call) <= width else call[: width - 1] + "…"


# -- tables ------------------------------------------------------------------------------------------
def _table() -> Table:
    """A table without vertical rules: more room for the data on a narrow terminal."""
    return Table(box=None, header_style="bold underline", pad_edge=False, padding=(0, 2, 0, 0))


def _row(table: Table, *cells: Text | str) -> None:
    """Add a row; plain strings become Text, so Rich markup in data is never interpreted."""
    table.add_row(*(c if isinstance(c, Text) else Text(c) for c in cells))


def attempts_text(rec: TaskRecord) -> str:
    """``attempt 2 of 5`` (the total from the record's max_retries: the worker writes its
    effective ``@task`` policy there when the task starts), with interruptions that did not spend
    an attempt (a graceful drain) said apart."""
    if rec.attempts <= 0:
        text = f"none yet (up to {rec.max_attempts})"
    else:
        text = f"attempt {rec.attempts} of {rec.max_attempts}"
    notes = sum(1 for e in rec.errors if not e.counted)
    if notes:
        text += f" (+{notes} interruption{'s' if notes != 1 else ''} that did not count)"
    return text


def elapsed(rec: TaskRecord, now: float) -> float | None:
    """Seconds a running task has been running: from its start, never from its claim."""
    if rec.status is TaskStatus.RUNNING and rec.started_at:
        return max(0.0, now - rec.started_at)
    return None


def _over_time(rec: TaskRecord, now: float) -> bool:
    ran = elapsed(rec, now)
    return ran is not None and bool(rec.timeout) and ran > (rec.timeout or 0)


def record_table(rec: TaskRecord, now: float) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    try:
        rows = _record_rows(rec, now)
    except Exception as exc:  # a record the storage handed back that still cannot be shown
        rows = [("id", clean(rec.id)), ("unreadable", Text(clean(f"{type(exc).__name__}: {exc}"), style="red"))]
    for key, value in rows:
        _row(t, key, value)
    return t


def _record_rows(rec: TaskRecord, now: float) -> list[tuple[str, Text | str]]:
    reason = unreadable(rec)
    if reason is not None:
        return [
            ("id", clean(rec.id)),
            ("status", status_text(rec.status)),
            ("queue", clean(rec.queue)),
            ("unreadable", Text(clean(reason), style="red")),
        ]
    status = status_text(rec.status)
    ran = elapsed(rec, now)
    if ran is not None:
        status.append(f" for {format_duration(ran)}", style="red" if _over_time(rec, now) else "")
    elif rec.status is TaskStatus.CLAIMED:
        status.append(" (in a worker's buffer, waiting for a free slot: not started)")
    rows: list[tuple[str, Text | str]] = [
        ("id", clean(rec.id)),
        ("task", call_text(rec, 200)),
        ("status", status),
        ("queue", clean(rec.queue)),
        ("attempts", attempts_text(rec)),
        ("priority", str(rec.priority)),
        ("created", f"{when(rec.created_at)} ({relative(rec.created_at, now)})"),
    ]
    if rec.status in (TaskStatus.SCHEDULED, TaskStatus.PENDING):
        rows.append(("runs at", f"{when(rec.run_at)} ({relative(rec.run_at, now)})"))
    if rec.status is TaskStatus.RETRYING:
        rows.append(("next retry", f"{when(rec.run_at)} ({relative(rec.run_at, now)})"))
    if rec.status is TaskStatus.THROTTLED:  # why it waits, and until when (gdw_core.flow)
        why = clean(rec.throttled_by or "by a limit")
        rows.append(("throttled", f"{why} until {when(rec.run_at)} ({relative(rec.run_at, now)})"))
    if rec.limits:
        rows.append(("limits", clean(", ".join(rec.limits))))
    if rec.expires_at is not None:
        rows.append(("expires", f"{when(rec.expires_at)} ({relative(rec.expires_at, now)})"))
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
        label = f"attempt {err.attempt}" if err.counted else f"attempt {err.attempt} (not counted)"
        rows.append((label, Text(f"{clean(err)}  ({when(err.at)}, {clean(err.worker or '?')})", style="red")))
    return rows


def _moment(rec: TaskRecord, now: float) -> Text | str:
    if rec.status in (TaskStatus.SCHEDULED, TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.THROTTLED):
        return relative(rec.run_at, now)
    if rec.status is TaskStatus.CLAIMED:
        return "not started"
    if rec.status is TaskStatus.RUNNING:
        ran = elapsed(rec, now)
        if ran is None:
            return "-"
        return Text(f"for {format_duration(ran)}", style="red" if _over_time(rec, now) else "")
    return relative(rec.finished_at, now)


def _task_cells(rec: TaskRecord, now: float, show_queue: bool) -> list[Text | str]:
    try:
        cells: list[Text | str] = [
            clean(rec.id),
            status_text(rec.status),
            "",
            f"{max(rec.attempts, 0)}/{rec.max_attempts}",
            _moment(rec, now),
        ]
    except Exception as exc:  # one record that cannot be shown is shown as such; the rest are listed
        cells = [clean(rec.id), Text("unreadable", style="red"), "", "-", clean(f"{type(exc).__name__}")]
    return [*cells, clean(rec.queue)] if show_queue else cells


def tasks_table(records: Iterable[TaskRecord], now: float, width: int = 120) -> Table:
    """One line per task; the call is cut to what ``width`` leaves after the other columns."""
    records = list(records)
    queues = {r.queue for r in records}
    show_queue = bool(queues) and queues != {DEFAULT_QUEUE}
    rows = [_task_cells(rec, now, show_queue) for rec in records]
    used = [max((len(str(r[i])) for r in rows), default=0) for i in range(len(rows[0]) if rows else 0)]
    fixed = sum(used) - (used[2] if used else 0) + 2 * len(used)
    room = max(8, width - fixed)
    t = _table()
    for col in ("id", "status", "task", "try", "when", "queue")[: len(used) or 5]:
        t.add_column(col, no_wrap=True, overflow="ellipsis")
    for rec, cells in zip(records, rows, strict=True):
        try:
            cells[2] = call_text(rec, room)
        except Exception as exc:
            cells[2] = Text(clean(f"unreadable record: {type(exc).__name__}"), style="red")
        _row(t, *cells)
    return t


WORKER_STATE_STYLE = display.WORKER_STYLE


def workers_table(workers: Iterable[WorkerInfo], now: float) -> Table:
    """One line per worker record: live, draining, stopped or dead (its heartbeat went stale),
    with when it was last seen, tasks running (busy) and waiting in its buffer (claimed)."""
    workers = list(workers)
    t = _table()
    t.add_column("id", no_wrap=True, min_width=max((len(clean(w.id)) for w in workers), default=2))
    for col in ("host", "pid", "state", "queues", "busy", "claimed", "done", "failed", "seen", "held"):
        t.add_column(col, no_wrap=col != "queues", overflow="ellipsis")
    for w in workers:
        _row(
            t,
            clean(w.id),
            clean(w.host),
            str(w.pid),
            Text(clean(w.state), style=WORKER_STATE_STYLE.get(w.state, "yellow")),
            clean(",".join(w.queues)),
            f"{w.busy}/{w.concurrency}",
            str(w.claimed),
            str(w.processed),
            str(w.failed),
            relative(w.last_seen, now),
            str(len(w.held)),
        )
    return t


def dead_worker_lines(workers: Iterable[WorkerInfo], now: float, shown: int = 10) -> list[str]:
    """For each dead worker: when it was last seen and the tasks it held then (their leases are
    recovered once they expire)."""
    lines = []
    for w in workers:
        if w.state != "dead":
            continue
        held = ", ".join(clean(t) for t in w.held[:shown])
        more = f" and {len(w.held) - shown} more" if len(w.held) > shown else ""
        what = f"held {len(w.held)} task(s): {held}{more}" if w.held else "held no tasks"
        lines.append(f"worker {clean(w.id)} is dead (last seen {relative(w.last_seen, now)}); it {what}")
    return lines


def failing_queue_lines(workers: Iterable[WorkerInfo]) -> list[str]:
    """For each worker that is not dead or stopped and reports a queue whose claims or outcomes
    fail (a key of that queue holds garbage): which queue, what fails and why, and the command
    that repairs it."""
    return [
        f"worker {clean(w.id)}: queue {clean(queue)!r}: {clean(why)}"
        + ("" if "gdw repair" in why else f" (gdw repair --queue {clean(queue)})")
        for w in workers
        if w.state not in ("dead", "stopped")
        for queue, why in sorted(w.failing.items())
    ]


#: below this terminal width the counts table labels its state columns with the tiny labels
WIDE_COUNTS = 100


def counts_table(rows: Mapping[str, Mapping[str, int]], paused: Mapping[str, bool], width: int = 200) -> Table:
    """A row of counts per queue, a column per state in the display order (tiny labels when
    ``width`` is narrow, so every state fits in 80 columns)."""
    states = [str(look.status) for look in display.STATES]
    labels = display.TINY_LABEL if width < WIDE_COUNTS else SHORT_STATE
    t = _table()
    t.add_column("queue", no_wrap=True, min_width=max((len(clean(n)) for n in rows), default=5))
    for s in states:
        t.add_column(labels[s], justify="right", header_style=f"bold {STATUS_STYLE[s]}", no_wrap=True)
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
        try:
            cells: list[Text | str] = [
                clean(e.id),
                call_text(e),
                clean(e.schedule_text),
                clean(e.queue),
                f"{when(e.next_run)} ({relative(e.next_run, now)})",
                clean(e.last_task_id or "-"),
            ]
        except Exception as exc:  # one entry that cannot be shown is shown as such
            cells = [clean(e.id), Text(clean(f"unreadable entry: {type(exc).__name__}"), style="red"), "", "", "", ""]
        _row(t, *cells)
    return t
