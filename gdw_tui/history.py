"""Short rolling histories for the sparklines: finished tasks per second (from the event stream)
and each worker's utilization (from its heartbeats)."""

from __future__ import annotations

import math
from collections import deque

from gdw_core.events import Event
from gdw_core.workerinfo import WorkerInfo

WINDOW = 60  # seconds of throughput kept
UTIL_POINTS = 60  # utilization samples kept per worker


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

    def add(self, event: Event) -> None:
        self.recent.append(event)
        self.throughput.add(event)

    def events_for(self, task_id: str) -> list[Event]:
        return [e for e in self.recent if e.task_id == task_id]
