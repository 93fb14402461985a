"""Dashboard reads over a storage, each with a bounded cost whatever the number of tasks: a
filtered page (``TaskFilter`` + a resumable cursor), error groups, per-queue wait times and a task's
timeline. They read through ``Storage.list_tasks`` in windows of at most ``SCAN_MAX`` index
entries per call, so one refresh costs a few round trips, never a scan of the whole state."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gdw_core.events import Event
from gdw_core.record import TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Mark, Storage

#: index entries one call may look at (a filtered page, error groups, a wait sample)
SCAN_MAX = 2000
#: entries fetched per round trip inside a scan
CHUNK = 500
#: error groups look at failures this recent (seconds)
ERROR_WINDOW = 15 * 60
WAIT_SAMPLE = 500

_HEX_ID = re.compile(r"\b[0-9a-f]{8,}\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(\.\d+)?")


def normalise(message: str) -> str:
    """An error message with ids and numbers folded, so "task 17 failed" and "task 18 failed"
    group together."""
    return _NUMBER.sub("N", _HEX_ID.sub("<id>", message)).strip()[:200]


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks a page holds: every given field must match (case-insensitive substrings for
    name and error text; queue exactly)."""

    name: str | None = None
    queue: str | None = None
    error: str | None = None
    #: one error group: the last error's type exactly, and its normalised message when given
    error_type: str | None = None
    error_message: str | None = None

    def matches(self, record: TaskRecord) -> bool:
        if self.queue is not None and record.queue != self.queue:
            return False
        if self.name and self.name.lower() not in record.name.lower():
            return False
        if self.error:
            last = record.last_error
            if last is None or self.error.lower() not in str(last).lower():
                return False
        if self.error_type is not None:
            last = record.last_error
            if last is None or last.type != self.error_type:
                return False
            if self.error_message is not None and normalise(last.message) != self.error_message:
                return False
        return True

    @property
    def empty(self) -> bool:
        return not (self.name or self.queue or self.error or self.error_type)

    def words(self) -> str:
        """The filter as an operator reads it (``name:x error:y group:Type: message``)."""
        out = [f"{k}:{v}" for k, v in (("name", self.name), ("queue", self.queue), ("error", self.error)) if v]
        if self.error_type is not None:
            out.append(f"group:{self.error_type}" + (f": {self.error_message}" if self.error_message else ""))
        return " ".join(out)

    @classmethod
    def parse(cls, text: str) -> TaskFilter | None:
        """``name:x queue:y error:z`` (any of them) as a filter; None when the text holds none."""
        got: dict[str, str] = {}
        for word in text.split():
            key, sep, value = word.partition(":")
            if sep and key in ("name", "queue", "error") and value:
                got[key] = value
        return cls(**got) if got else None


@dataclass(frozen=True, slots=True)
class FilteredPage:
    tasks: list[TaskRecord]
    #: the position the next call goes on from (Storage.list_after), None when the state's end was reached
    cursor: Mark | None
    #: index entries looked at by this call (<= SCAN_MAX)
    scanned: int


@dataclass(slots=True)
class ErrorGroup:
    type: str
    message: str  # normalised
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    sample_id: str = ""
    #: status name -> how many of the group's tasks are in it (failed, retrying)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def filter(self) -> TaskFilter:
        """A filter that finds exactly this group's tasks (type, and normalised message)."""
        return TaskFilter(error_type=self.type, error_message=self.message)

    @property
    def status(self) -> TaskStatus:
        """Where most of the group's tasks are (failed unless only retrying ones were seen)."""
        if self.statuses.get(TaskStatus.FAILED.value, 0) or not self.statuses:
            return TaskStatus.FAILED
        return TaskStatus.RETRYING


@dataclass(frozen=True, slots=True)
class WaitStats:
    queue: str
    sample: int
    p50: float
    p99: float


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    what: str  # "created", "due", "started", "attempt failed", "finished"; events: "pending → claimed"
    status: str = ""
    worker: str | None = None
    detail: str = ""
    #: "record" (what the task record holds) or "event" (a transition read from the event stream)
    source: str = "record"


@dataclass(slots=True)
class _Scan:
    """A walk over a state's index by position (Storage.list_after), at most ``budget`` entries."""

    storage: Storage
    status: TaskStatus
    queue: str | None
    after: Mark | None
    budget: int
    scanned: int = 0
    done: bool = field(default=False)

    async def chunk(self) -> list[tuple[Mark, TaskRecord]]:
        want = min(CHUNK, self.budget - self.scanned)
        if want <= 0 or self.done:
            return []
        got = await self.storage.list_after(self.status, self.queue, self.after, want)
        self.scanned += len(got)
        if len(got) < want:
            self.done = True
        if got:
            self.after = got[-1][0]
        return got


async def filtered_page(
    storage: Storage, status: TaskStatus, flt: TaskFilter, limit: int = 100, cursor: Mark | None = None
) -> FilteredPage:
    """Up to ``limit`` matching tasks from the position ``cursor`` on (None: the start), looking
    at no more than SCAN_MAX entries; the returned cursor resumes the scan. Each call costs its
    window, whatever the depth."""
    if limit <= 0:
        raise ValueError("limit must be > 0")
    scan = _Scan(storage, status, flt.queue, cursor, SCAN_MAX)
    out: list[TaskRecord] = []
    while len(out) < limit:
        batch = await scan.chunk()
        if not batch:
            break
        for mark, rec in batch:
            if flt.matches(rec):
                out.append(rec)
                if len(out) == limit:
                    return FilteredPage(out, mark, scan.scanned)
    return FilteredPage(out, None if scan.done else scan.after, scan.scanned)


async def error_groups(storage: Storage, now: float, window: float = ERROR_WINDOW, top: int = 10) -> list[ErrorGroup]:
    """The most frequent errors of the last ``window`` seconds, by type and normalised message,
    from the newest failed and retrying tasks (a bounded window of each)."""
    groups: dict[tuple[str, str], ErrorGroup] = {}
    for status in (TaskStatus.FAILED, TaskStatus.RETRYING):
        scan = _Scan(storage, status, None, None, budget=SCAN_MAX // 2)
        while batch := await scan.chunk():
            for _, rec in batch:
                last = rec.last_error
                if last is None or last.at < now - window:
                    continue
                key = (last.type, normalise(last.message))
                g = groups.get(key)
                if g is None:
                    g = groups[key] = ErrorGroup(key[0], key[1], 0, last.at, last.at, rec.id)
                g.count += 1
                g.statuses[status.value] = g.statuses.get(status.value, 0) + 1
                g.first_seen = min(g.first_seen, last.at)
                g.last_seen = max(g.last_seen, last.at)
    return sorted(groups.values(), key=lambda g: (-g.count, -g.last_seen))[:top]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_stats(storage: Storage, queue: str, sample: int = WAIT_SAMPLE) -> WaitStats:
    """How long the queue's recently started tasks sat due before a worker started them
    (started_at - run_at), p50 and p99 over a bounded sample of running and completed tasks."""
    waits: list[float] = []
    for status in (TaskStatus.RUNNING, TaskStatus.COMPLETED):
        if len(waits) >= sample:
            break
        for rec in await storage.list_tasks(status, queue, 0, min(sample - len(waits), SCAN_MAX)):
            if rec.started_at is not None and rec.run_at:
                waits.append(max(0.0, rec.started_at - rec.run_at))
    if not waits:
        return WaitStats(queue, 0, 0.0, 0.0)
    return WaitStats(queue, len(waits), _quantile(waits, 0.5), _quantile(waits, 0.99))


def timeline(record: TaskRecord) -> list[TimelineEntry]:
    """A task's story from what storage holds about it: created, due, each failed attempt with its
    worker and error, started, finished."""
    out = [TimelineEntry(record.created_at, "created", TaskStatus.PENDING.value)]
    if record.run_at and record.run_at > record.created_at and not record.errors:
        out.append(TimelineEntry(record.run_at, "due"))
    for e in record.errors:
        what = "attempt failed" if e.counted else "attempt interrupted"
        out.append(TimelineEntry(e.at, what, "", e.worker, f"#{e.attempt} {e}"))
    if record.started_at is not None:
        out.append(TimelineEntry(record.started_at, "started", TaskStatus.RUNNING.value, record.worker))
    if record.finished_at is not None:
        out.append(TimelineEntry(record.finished_at, "finished", record.status.value, record.worker))
    return sorted(out, key=lambda t: t.at)


@dataclass(frozen=True, slots=True)
class Matching:
    """The ids of a state's tasks that match a filter, walked to the end of the state or until
    ``limit`` matched (``complete`` False: there may be more)."""

    ids: list[str]
    complete: bool
    scanned: int


async def matching_ids(
    storage: Storage,
    status: TaskStatus,
    flt: TaskFilter,
    limit: int = 100_000,
    page: int = 500,
    progress: Callable[[int, int], object] | None = None,
) -> Matching:
    """Every task of ``status`` matching ``flt``, up to ``limit`` ids: consecutive filtered pages
    by position (each call bounded by SCAN_MAX entries and costing its window, not its depth), so
    the whole cost is one pass over the state's index; what "select all matching" counts and acts
    on."""
    ids: list[str] = []
    cursor: Mark | None = None
    scanned = 0
    while True:
        got = await filtered_page(storage, status, flt, min(page, limit - len(ids)), cursor)
        ids.extend(t.id for t in got.tasks)
        scanned += got.scanned
        cursor = got.cursor
        if progress is not None:
            progress(scanned, len(ids))  # entries looked at, matches so far
        if cursor is None:
            return Matching(ids, True, scanned)
        if len(ids) >= limit:
            return Matching(ids, False, scanned)


#: events one task's timeline looks at: the whole stream as kept by default (Retention.events is
#: 10 000; Redis keeps at least that many and trims once per eighth, so up to about 11 250 plus a
#: stream node's entries are there)
EVENT_SCAN = 15_000
#: an event this close (seconds) to a record entry of the same step is that entry
SAME_STEP = 0.005


async def task_events(storage: Storage, task_id: str, scan: int = EVENT_SCAN) -> list[Event]:
    """The events of one task still in the (capped) event stream, oldest first: at most ``scan``
    events are read, CHUNK per round trip."""
    out: list[Event] = []
    cursor = "0"
    seen = 0
    while seen < scan:
        want = min(CHUNK, scan - seen)
        batch = await storage.read_events(cursor, want)
        seen += len(batch)
        out.extend(e for e in batch if e.task_id == task_id)
        if len(batch) < want:
            break
        cursor = batch[-1].id
    return out


def _step_of(event: Event) -> str | None:
    """Which record entry an event repeats, if any."""
    if event.old is None and event.kind in (TaskStatus.PENDING.value, TaskStatus.SCHEDULED.value):
        return "created"
    if event.kind == TaskStatus.RUNNING.value:
        return "started"
    if event.kind in (TaskStatus.RETRYING.value, TaskStatus.FAILED.value) and event.old in ("running", "claimed"):
        return "attempt"
    if event.kind in {s.value for s in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)}:
        return "finished"
    return None


def merged_timeline(record: TaskRecord, events: list[Event]) -> list[TimelineEntry]:
    """The record's timeline with the stream's transitions woven in (claims, releases, retries,
    re-runs, cancel requests); an event that repeats a record entry (same step, same moment) is
    left out, progress events too."""
    entries = timeline(record)
    steps = [(e.at, "attempt" if e.what.startswith("attempt") else e.what) for e in entries]
    seen: set[str] = set()
    for ev in sorted(events, key=lambda e: e.at):
        if ev.kind == "progress" or ev.id in seen:
            continue
        seen.add(ev.id)
        step = _step_of(ev)
        if step is not None and any(abs(at - ev.at) <= SAME_STEP and what == step for at, what in steps):
            continue
        status = ev.kind if ev.kind in {s.value for s in TaskStatus} else ""
        what = f"{ev.old or 'new'} → {ev.kind}" if status else ev.kind.replace("_", " ")
        entries.append(TimelineEntry(ev.at, what, status, ev.worker, ev.detail or "", "event"))
    return sorted(entries, key=lambda t: (t.at, _RANK.get(t.what, 1) if t.source == "record" else 1))


#: the order of entries that share a moment (a coarse clock): created, transitions, the rest
_RANK = {"created": 0, "due": 0, "started": 2, "attempt failed": 3, "attempt interrupted": 3, "finished": 4}
