"""The dashboard's tables: tasks, workers, queues and recurring entries. Each turns a page of
records into rows of escaped cells and hands them to :class:`SyncedTable`."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from gdw_core.record import TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import QueueInfo
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.widgets.synced import Cell, SyncedTable


class TasksTable(SyncedTable):
    COLUMNS = (
        ("id", "id"),
        ("name", "name"),
        ("args", "args"),
        ("attempt", "attempt"),
        ("worker", "worker"),
        ("timing", "age / elapsed / next"),
        ("note", "progress / last error"),
    )

    def show(
        self, tasks: list[TaskRecord], now: float, stale_workers: set[str], match: Callable[[TaskRecord], bool]
    ) -> None:
        self.sync([(t.id, task_cells(t, now, stale_workers)) for t in tasks if match(t)])


def task_cells(t: TaskRecord, now: float, stale_workers: set[str]) -> list[Cell]:
    worker = safe.text(safe.shorten(t.worker or "", 16))
    if t.status is TaskStatus.RUNNING and t.worker in stale_workers:
        worker = Text.assemble(safe.text(safe.shorten(t.worker or "", 8)), (" orphan?", "bold red"))
    return [
        safe.text(fmt.short_id(t.id, 12)),
        safe.text(safe.shorten(t.name, 24), "bold"),
        fmt.args_text(t, 28),
        fmt.attempt_text(t),
        worker,
        fmt.timing_text(t, now),
        note_text(t),
    ]


def note_text(t: TaskRecord) -> Text:
    if t.cancel_requested and not t.status.terminal:
        return Text("cancel requested", style="yellow")
    if t.status is TaskStatus.RUNNING and t.progress is not None:
        return safe.text(safe.shorten("progress " + safe.json_text(t.progress), 32), "blue")
    if t.status is TaskStatus.COMPLETED:
        return safe.text(safe.shorten("→ " + safe.json_text(t.result), 32), "green")
    err = t.last_error
    if err is not None and t.status in (
        TaskStatus.RETRYING,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.PENDING,
    ):
        return safe.text(safe.shorten(safe.clean(str(err)), 32), "red")
    return Text("")


class WorkersTable(SyncedTable):
    COLUMNS = (
        ("id", "worker"),
        ("host", "host"),
        ("pid", "pid"),
        ("queues", "queues"),
        ("slots", "busy/conc"),
        ("done", "processed"),
        ("failed", "failed"),
        ("up", "uptime"),
        ("seen", "last seen"),
        ("state", "state"),
        ("util", "utilization"),
    )

    def show(self, workers: list[WorkerInfo], now: float, util: Callable[[str], list[float]]) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        for w in workers:
            stale = fmt.worker_is_stale(w, now)
            state = Text("STALE", style="bold red reverse") if stale else safe.text(w.state, _state_style(w.state))
            series = util(w.id)
            last = series[-1] if series else w.utilization
            rows.append(
                (
                    w.id,
                    [
                        safe.text(safe.shorten(w.id, 22)),
                        safe.text(safe.shorten(w.host, 16)),
                        str(w.pid),
                        safe.text(safe.shorten(",".join(w.queues), 14)),
                        f"{w.busy}/{w.concurrency}",
                        str(w.processed),
                        Text(str(w.failed), style="red" if w.failed else ""),
                        fmt.ago(now - w.started_at) if w.started_at else "-",
                        Text(f"{fmt.ago(now - w.last_seen)} ago", style="bold red" if stale else "dim"),
                        state,
                        Text.assemble((fmt.spark(series, 20, 1.0), "green"), f" {last:4.0%}"),
                    ],
                )
            )
        self.sync(rows)


def _state_style(state: str) -> str:
    return {"running": "green", "draining": "bold yellow", "stopped": "dim"}.get(state, "")


class QueuesTable(SyncedTable):
    COLUMNS = (
        ("name", "queue"),
        ("flag", "state"),
        *((str(s), fmt.SHORT_LABEL[str(s)]) for s in fmt.STATES),
        ("oldest", "oldest"),
        ("bar", "share"),
    )

    def show(self, queues: list[QueueInfo], now: float) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        for q in queues:
            flag = Text("PAUSED", style="bold yellow reverse") if q.paused else Text("active", style="green")
            oldest = fmt.ago(now - q.oldest_pending_at) if q.oldest_pending_at else "-"
            cells: list[Cell] = [safe.text(q.name, "bold"), flag]
            cells += [Text(str(q.counts.get(str(s), 0)), style=fmt.STATUS_STYLE[str(s)]) for s in fmt.STATES]
            cells += [oldest, fmt.stacked_bar(q.counts, 16)]
            rows.append((q.name, cells))
        self.sync(rows)


class RecurringTable(SyncedTable):
    COLUMNS = (
        ("id", "entry"),
        ("name", "task"),
        ("queue", "queue"),
        ("every", "schedule"),
        ("next", "next fire"),
        ("then", "then"),
        ("last", "last task"),
    )

    def show(self, entries: list[RecurringEntry], now: float) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        for e in entries:
            upcoming = e.upcoming(3)
            rows.append(
                (
                    e.id,
                    [
                        safe.text(safe.shorten(e.id, 24)),
                        safe.text(safe.shorten(e.name, 28), "bold"),
                        safe.text(e.queue),
                        safe.text(e.schedule_text),
                        Text(fmt.in_from_now(upcoming[0], now), style="cyan"),
                        ", ".join(fmt.in_from_now(t, now) for t in upcoming[1:]),
                        safe.text(safe.shorten(e.last_task_id or "-", 30), "dim"),
                    ],
                )
            )
        self.sync(rows)
