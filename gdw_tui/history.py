"""Short rolling histories for the sparklines: finished tasks per second (from the event stream),
overall and per queue; each queue's wait time (p50/p99 of its recently started tasks) and depth,
one sample per second of what each refresh read from storage; and each worker's utilization (from
its heartbeats). Everything is bounded: a minute or two of points, at most MAX_QUEUES queues."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from gdw_core.events import Event
from gdw_core.status import WAITING
from gdw_core.storage.protocol import QueueInfo
from gdw_core.views import WaitStats
from gdw_core.workerinfo import WorkerInfo

WINDOW = 60  # seconds of throughput kept
UTIL_POINTS = 60  # utilization samples kept per worker
MAX_QUEUES = 50  # queues whose own charts are kept (the least recently seen are dropped)


class Throughput:
    """Completed and failed events bucketed by whole second of their own timestamp."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.done: dict[int, int] = {}
        self.failed: dict[int, int] = {}

    def add(self, event: Event) -> None:
        second = math.floor(event.at)
        if event.kind == "completed":
            self.done[second] = self.done.get(second, 0) + 1
        elif event.kind == "failed":
            self.failed[second] = self.failed.get(second, 0) + 1
        else:
            return
        self._trim(second)

    def _trim(self, newest: int) -> None:
        floor = newest - 2 * self.window
        for book in (self.done, self.failed):
            for k in [k for k in book if k < floor]:
                del book[k]

    def series(self, now: float, kind: str = "done") -> list[float]:
        """Per-second counts of the last ``window`` full seconds before ``now``, oldest first."""
        book = self.done if kind == "done" else self.failed
        end = math.floor(now)
        return [float(book.get(s, 0)) for s in range(end - self.window, end)]

    def rate(self, now: float, kind: str = "done", over: int = 10) -> float:
        values = self.series(now, kind)[-over:]
        return sum(values) / len(values) if values else 0.0


class Trend:
    """One value per whole second (the last one read in that second wins), the last ``window``
    seconds, carried forward over seconds without a reading."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.points: dict[int, float] = {}

    def add(self, at: float, value: float) -> None:
        second = math.floor(at)
        self.points[second] = value
        for k in [k for k in self.points if k < second - 2 * self.window]:
            del self.points[k]

    def series(self, now: float) -> list[float]:
        end = math.floor(now) + 1
        before = [v for k, v in sorted(self.points.items()) if k < end - self.window]
        last = before[-1] if before else 0.0
        out: list[float] = []
        for s in range(end - self.window, end):
            last = self.points.get(s, last)
            out.append(last)
        return out

    def latest(self) -> float | None:
        return self.points[max(self.points)] if self.points else None


@dataclass(slots=True)
class QueueCharts:
    """One queue's charts: finished per second (events), wait p50 / p99 and depth (refreshes)."""

    throughput: Throughput = field(default_factory=Throughput)
    wait_p50: Trend = field(default_factory=Trend)
    wait_p99: Trend = field(default_factory=Trend)
    waiting: Trend = field(default_factory=Trend)


class Utilization:
    def __init__(self, points: int = UTIL_POINTS) -> None:
        self.points = points
        self.by_worker: dict[str, deque[float]] = {}
        self._last_seen: dict[str, float] = {}

    def add(self, workers: list[WorkerInfo]) -> None:
        """One sample per new heartbeat of each worker."""
        live = set()
        for w in workers:
            live.add(w.id)
            if self._last_seen.get(w.id) == w.last_seen:
                continue
            self._last_seen[w.id] = w.last_seen
            self.by_worker.setdefault(w.id, deque(maxlen=self.points)).append(w.utilization)
        for gone in [k for k in self.by_worker if k not in live]:
            del self.by_worker[gone]
            self._last_seen.pop(gone, None)

    def series(self, worker_id: str) -> list[float]:
        return list(self.by_worker.get(worker_id, ()))


class History:
    """What the dashboard has seen since it started: recent events, throughput, utilization."""

    def __init__(self, events_kept: int = 5000) -> None:
        self.recent: deque[Event] = deque(maxlen=events_kept)
        self.throughput = Throughput()
        self.utilization = Utilization()
        #: queue name -> its charts (insertion order = least recently seen first)
        self.queues: dict[str, QueueCharts] = {}

    def add(self, event: Event) -> None:
        self.recent.append(event)
        self.throughput.add(event)
        if event.queue and event.kind in ("completed", "failed"):
            self.charts(event.queue).throughput.add(event)

    def charts(self, queue: str) -> QueueCharts:
        got = self.queues.pop(queue, None) or QueueCharts()
        self.queues[queue] = got
        while len(self.queues) > MAX_QUEUES:
            del self.queues[next(iter(self.queues))]
        return got

    def add_queues(self, now: float, queues: list[QueueInfo], waits: Mapping[str, WaitStats]) -> None:
        """One refresh's reading: each queue's depth (waiting tasks) and wait time sample."""
        for q in queues[:MAX_QUEUES]:
            charts = self.charts(q.name)
            charts.waiting.add(now, float(sum(q.counts.get(str(s), 0) for s in WAITING)))
            w = waits.get(q.name)
            if w is not None and w.sample:
                charts.wait_p50.add(now, w.p50)
                charts.wait_p99.add(now, w.p99)

    def events_for(self, task_id: str) -> list[Event]:
        return [e for e in self.recent if e.task_id == task_id]
