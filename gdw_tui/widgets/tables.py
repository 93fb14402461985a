"""The dashboard's tables: tasks, workers, queues and recurring entries. Each turns a page of
records into rows of escaped cells and hands them to :class:`SyncedTable`. Columns share the width
the table has by what they hold: fixed-size columns get what they need, args and errors the rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rich.text import Text

from gdw_core import display
from gdw_core.record import TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import QueueInfo
from gdw_core.views import WaitStats
from gdw_core.workerinfo import WorkerInfo
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.history import QueueCharts
from gdw_tui.widgets.synced import Cell, SyncedTable

#: each column costs its content plus one cell of padding on each side
PAD = 2
#: below this many columns of table width the compact layouts are used
NARROW = 110


@dataclass(frozen=True, slots=True)
class TaskLayout:
    """How wide each task column may be at one table width (0 = column not shown)."""

    id: int
    name: int
    args: int
    worker: int
    note: int

    @classmethod
    def for_width(cls, width: int, with_worker: bool = True) -> TaskLayout:
        """``with_worker``: the state's tasks are held by a worker (claimed, running)."""
        timing, attempt = 22, 7
        if width < NARROW:  # id, name, attempt, timing, note
            fixed = 10 + 16 + attempt + timing + 5 * PAD
            return cls(10, 16, 0, 0, max(12, width - fixed - 1))
        ident = 14 if width < 170 else 20
        name = 24 if width < 170 else 32
        worker = (16 if width < 170 else 24) if with_worker else 0
        fixed = ident + name + worker + attempt + timing + (7 if with_worker else 6) * PAD
        rest = max(24, width - fixed - 1)
        args = max(12, rest * 2 // 5)
        return cls(ident, name, args, worker, rest - args)

    def fitted(self, tasks: list[TaskRecord], now: float, width: int, mark: int = 0) -> TaskLayout:
        """The same caps, shrunk to what these tasks' ids, names, workers and timings need; the
        width saved goes to args and the note."""
        if not tasks:
            return self

        def need(cap: int, header: int, values: list[int]) -> int:
            return min(cap, max([header, *values])) if cap else 0

        ident = need(self.id + mark, 2, [len(t.id) + mark for t in tasks])  # mark: room for "● "
        name = need(self.name, 4, [len(t.name) for t in tasks])
        worker = need(self.worker, 6, [len(t.worker or "") + 5 for t in tasks])
        timing = max([20, *(len(fmt.timing_text(t, now).plain) for t in tasks)])
        shown = 5 + (1 if self.args else 0) + (1 if self.worker else 0)
        rest = max(12, width - (ident + name + worker + 7 + timing + shown * PAD) - 1)
        if not self.args:
            return TaskLayout(ident, name, 0, worker, rest)
        args_need = max(4, *(len(fmt.args_text(t, 10_000).plain) for t in tasks))
        note_need = max(12, *(len(note_text(t, now, 10_000).plain) for t in tasks))
        if args_need + note_need + PAD <= rest:  # both whole
            args = args_need
        elif note_need + PAD + 12 <= rest * 3 // 5:  # the note is short: args take the rest
            args = rest - note_need - PAD
        else:  # share: args two fifths at most, never more than they need
            args = max(12, min(args_need, rest * 2 // 5))
        return TaskLayout(ident, name, args, worker, max(12, rest - args - PAD))

    def columns(self) -> list[tuple[str, str]]:
        cols = [("id", "id"), ("name", "name")]
        if self.args:
            cols.append(("args", "args"))
        cols.append(("attempt", "attempt"))
        if self.worker:
            cols.append(("worker", "worker"))
        if self.args:
            cols += [("timing", "age / elapsed / next"), ("note", "progress / last error")]
        else:
            cols += [("timing", "age / next"), ("note", "progress / error")]
        return cols


class TasksTable(SyncedTable):
    def on_mount(self) -> None:
        self.set_columns(TaskLayout.for_width(self.size.width or 120).columns())

    def show(
        self,
        tasks: list[TaskRecord],
        now: float,
        dead_workers: set[str],
        match: Callable[[TaskRecord], bool],
        picked: Callable[[str], bool] | None = None,
    ) -> int:
        """Show the tasks that match; returns how many are shown. The fixed columns take what their
        content needs (up to their cap); args and the note share the rest."""
        width = self.size.width or 120
        leased = bool(tasks) and all(t.status in (TaskStatus.CLAIMED, TaskStatus.RUNNING) for t in tasks)
        cap = TaskLayout.for_width(width, with_worker=leased or not tasks)
        chosen = [t for t in tasks if match(t)]
        mark = 2 if picked is not None and any(picked(t.id) for t in chosen) else 0
        layout = cap.fitted(chosen, now, width, mark)
        self.set_columns(layout.columns())
        rows = [(t.id, task_cells(t, now, dead_workers, layout, picked is not None and picked(t.id))) for t in chosen]
        self.sync(rows)
        return len(rows)


def task_cells(
    t: TaskRecord, now: float, dead_workers: set[str], layout: TaskLayout, picked: bool = False
) -> list[Cell]:
    ident = (
        Text.assemble(("● ", "bold yellow"), safe.text(fmt.short_id(t.id, max(4, layout.id - 2))))
        if picked
        else safe.text(fmt.short_id(t.id, layout.id))
    )
    cells: list[Cell] = [
        ident,
        safe.text(safe.shorten(t.name, layout.name), "bold"),
    ]
    if layout.args:
        cells.append(fmt.args_text(t, layout.args))
    cells.append(fmt.attempt_text(t))
    if layout.worker:
        worker = safe.text(safe.shorten(t.worker or "", layout.worker))
        if t.status in (TaskStatus.RUNNING, TaskStatus.CLAIMED) and t.worker in dead_workers:
            worker = Text.assemble(safe.text(safe.shorten(t.worker or "", layout.worker - 5)), (" dead", "bold red"))
        cells.append(worker)
    cells += [fmt.timing_text(t, now), note_text(t, now, layout.note)]
    return cells


def note_text(t: TaskRecord, now: float, width: int = 32) -> Text:
    if t.cancel_requested and not t.status.terminal:
        return Text("cancel requested", style="yellow")
    if t.status is TaskStatus.RUNNING and t.progress is not None:
        bar = fmt.progress_bar(t, now, width=max(4, min(20, width - 24)), room=width)
        if bar is not None:
            bar.truncate(width, overflow="ellipsis")
            return bar
        return safe.text(safe.shorten("progress " + safe.json_text(t.progress), width), "blue")
    if t.status is TaskStatus.COMPLETED:
        return safe.text(safe.shorten("→ " + safe.json_text(t.result), width), "green")
    if t.status is TaskStatus.THROTTLED and t.throttled_by:  # which limit holds it, and why
        return safe.text(safe.shorten(safe.clean(t.throttled_by), width), "yellow")
    err = t.last_error
    if err is not None and t.status in (
        TaskStatus.RETRYING,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.PENDING,
    ):
        return safe.text(safe.shorten(safe.clean(str(err)), width), "red")
    return Text("")


def held_text(w: WorkerInfo, state: str, width: int) -> Text:
    """What a worker holds; for a dead one, the ids it held when it was last seen."""
    if state == "dead":
        if not w.held:
            return Text("nothing", style="dim")
        ids = safe.shorten(", ".join(safe.clean(h) for h in w.held), max(4, width - 4 - len(str(len(w.held)))))
        return Text.assemble((f"{len(w.held)}: ", "bold red"), (ids, "red"))
    return Text(str(len(w.held)) if w.held else "-", style="dim" if not w.held else "")


class WorkersTable(SyncedTable):
    WIDE = (
        ("id", "worker"),
        ("host", "host"),
        ("pid", "pid"),
        ("queues", "queues"),
        ("slots", "busy/claimed/conc"),
        ("done", "processed"),
        ("failed", "failed"),
        ("up", "uptime"),
        ("seen", "last seen"),
        ("state", "state"),
        ("held", "held"),
        ("util", "utilization"),
    )
    COMPACT = (
        ("id", "worker"),
        ("slots", "b/c/conc"),
        ("seen", "last seen"),
        ("state", "state"),
        ("held", "held"),
        ("util", "util"),
    )

    def show(self, workers: list[WorkerInfo], now: float, util: Callable[[str], list[float]]) -> None:
        narrow = (self.size.width or 120) < NARROW
        self.set_columns(self.COMPACT if narrow else self.WIDE)
        rows: list[tuple[str, list[Cell]]] = []
        for w in workers:
            state = fmt.worker_state_of(w, now)
            dead = state == "dead"
            series = util(w.id)
            last = series[-1] if series else w.utilization
            seen = Text(f"{fmt.ago(now - w.last_seen)} ago", style="bold red" if dead else "dim")
            slots = f"{w.busy}/{w.claimed}/{w.concurrency}"
            spark_w = 6 if narrow else 20
            util_cell = Text.assemble((fmt.spark(series, spark_w, 1.0), "green"), f" {last:4.0%}")
            if narrow:
                cells: list[Cell] = [
                    safe.text(safe.shorten(w.id, 18)),
                    slots,
                    seen,
                    fmt.worker_state_text(w, now),
                    held_text(w, state, 12),
                    util_cell,
                ]
            else:
                cells = [
                    safe.text(safe.shorten(w.id, 26)),
                    safe.text(safe.shorten(w.host, 16)),
                    str(w.pid),
                    safe.text(safe.shorten(",".join(w.queues), 14)),
                    slots,
                    str(w.processed),
                    Text(str(w.failed), style="red" if w.failed else ""),
                    fmt.ago(now - w.started_at) if w.started_at else "-",
                    seen,
                    fmt.worker_state_text(w, now),
                    held_text(w, state, 30),
                    util_cell,
                ]
            rows.append((w.id, cells))
        self.sync(rows)


#: a narrow queues table keeps its share bar only while it shows at most this many state columns
NARROW_STATES = 8
#: from this table width on, each queue row carries its throughput and wait-time charts
CHARTS = 134
SPARK_W = 10


def throughput_cell(charts: QueueCharts | None, now: float) -> Text:
    if charts is None:
        return Text("-", style="dim")
    done = fmt.squeeze(charts.throughput.series(now, "done"), SPARK_W)
    top = max([*done, 1.0])
    out = Text(fmt.spark(done, SPARK_W, top), style="green")
    out.append(f" {charts.throughput.rate(now, 'done'):5.1f}/s")
    return out


def wait_cell(charts: QueueCharts | None, now: float) -> Text:
    latest = charts.wait_p50.latest() if charts is not None else None
    if charts is None or latest is None:
        return Text("-", style="dim")
    p50 = fmt.squeeze(charts.wait_p50.series(now), SPARK_W, mean=False)
    out = Text(fmt.spark(p50, SPARK_W, max([*p50, 1e-9])), style="yellow")
    out.append(f" {display.duration(latest)}")
    return out


def queue_state(paused: bool, failing: bool) -> Text:
    """A queue's state cell: failing (claims or outcomes: its keys hold garbage) first, then paused."""
    if failing:
        return Text("FAILING", style="bold red reverse")
    return Text("PAUSED", style="bold yellow reverse") if paused else Text("active", style="green")


class QueuesTable(SyncedTable):
    def column_set(self, narrow: bool, charts: bool = False) -> list[tuple[str, str]]:
        cols = [("name", "queue")]
        if not narrow:
            cols.append(("flag", "state"))
        label = fmt.tiny_label if narrow else fmt.short_label
        cols += [(str(s), label(s)) for s in fmt.STATES]
        if not narrow:
            cols.append(("oldest", "oldest"))
            cols.append(("wait", "wait p50/p99"))
        if charts:  # the charts take the share bar's place
            return [*cols, ("thru", "done/s · 60s"), ("trend", "wait p50 · 60s")]
        if not (narrow and len(fmt.STATES) > NARROW_STATES):  # more states: their counts before the bar
            cols.append(("bar", "share"))
        return cols

    def on_mount(self) -> None:
        self.set_columns(self.column_set((self.size.width or 120) < NARROW))

    def show(
        self,
        queues: list[QueueInfo],
        now: float,
        waits: Mapping[str, WaitStats] | None = None,
        charts: Mapping[str, QueueCharts] | None = None,
        failing: Mapping[str, str] | None = None,
    ) -> None:
        waits = waits or {}
        failing = failing or {}
        width = self.size.width or 120
        narrow = width < NARROW
        with_charts = charts is not None and width >= CHARTS
        self.set_columns(self.column_set(narrow, with_charts))
        rows: list[tuple[str, list[Cell]]] = []
        for q in queues:
            name = safe.text(safe.shorten(q.name, 14 if narrow else 24), "bold")
            if narrow and q.name in failing:
                name.append(" !", style="bold red")
            elif narrow and q.paused:
                name.append(" ‖", style="bold yellow")
            cells: list[Cell] = [name]
            if not narrow:
                cells.append(queue_state(q.paused, q.name in failing))
            cells += [Text(str(q.counts.get(str(s), 0)), style=fmt.status_style(s)) for s in fmt.STATES]
            if not narrow:
                cells.append(fmt.ago(now - q.oldest_pending_at) if q.oldest_pending_at else "-")
                w = waits.get(q.name)
                cells.append(f"{display.duration(w.p50)} / {display.duration(w.p99)}" if w and w.sample else "-")
            if with_charts and charts is not None:
                cells += [throughput_cell(charts.get(q.name), now), wait_cell(charts.get(q.name), now)]
            elif not (narrow and len(fmt.STATES) > NARROW_STATES):
                cells.append(fmt.stacked_bar(q.counts, 6 if narrow else 16))
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

    def show(self, entries: list[RecurringEntry], now: float) -> int:
        rows: list[tuple[str, list[Cell]]] = []
        wide = (self.size.width or 120) >= 170
        for e in entries:
            upcoming = e.upcoming(3)
            rows.append(
                (
                    e.id,
                    [
                        safe.text(safe.shorten(e.id, 32 if wide else 20)),
                        safe.text(safe.shorten(e.name, 40 if wide else 22), "bold"),
                        safe.text(safe.shorten(e.queue, 16)),
                        safe.text(e.schedule_text),
                        Text(fmt.in_from_now(upcoming[0], now), style="cyan") if upcoming else Text("-"),
                        ", ".join(fmt.in_from_now(t, now) for t in upcoming[1:]),
                        safe.text(safe.shorten(e.last_task_id or "-", 40 if wide else 24), "dim"),
                    ],
                )
            )
        self.sync(rows)
        return len(rows)
