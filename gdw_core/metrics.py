"""Prometheus metrics (prometheus-client): a worker's own numbers, gathered through its lifecycle
hooks, and the queue depths of a deployment, read once per scrape in a bounded number of round
trips (``gdw metrics``), so N workers do not multiply them.

Worker metrics (``gdw worker --metrics-port``), labelled by task name and queue:
``gdw_tasks_started_total``, ``gdw_tasks_completed_total``, ``gdw_tasks_failed_total``,
``gdw_tasks_retried_total``, ``gdw_tasks_interrupted_total`` (cancelled, released, lost),
``gdw_task_duration_seconds`` and ``gdw_task_queue_wait_seconds`` (histograms); unlabelled:
``gdw_tasks_in_flight``, ``gdw_tasks_claimed``, ``gdw_lease_recoveries_total``,
``gdw_storage_errors_total{operation}``.

Task names become labels only when the worker registered them (its allowlist); anything else a
message names is counted as ``<unregistered>``, so stored garbage cannot grow the label set."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gdw_core.hooks import Hooks, Outcome
from gdw_core.lifecycle import is_live, worker_state
from gdw_core.record import TaskRecord
from gdw_core.storage.protocol import QueueInfo
from gdw_core.workerinfo import WorkerInfo

UNREGISTERED = "<unregistered>"
_LABELS = ("task", "queue")
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
_WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)
_INTERRUPTED = ("cancelled", "released", "lost")


class WorkerMetrics(Hooks):
    """Hooks that count what a worker does. ``known``: the task names it registered (labels);
    ``claimed``: a callable giving how many leased tasks wait in its buffer."""

    def __init__(
        self,
        known: Iterable[str] = (),
        *,
        registry: CollectorRegistry | None = None,
        claimed: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.known = frozenset(known)
        self.clock = clock
        r = self.registry
        self.started = Counter("gdw_tasks_started", "Task attempts started", _LABELS, registry=r)
        self.completed = Counter("gdw_tasks_completed", "Task attempts that completed", _LABELS, registry=r)
        self.failed = Counter("gdw_tasks_failed", "Tasks that failed for good", _LABELS, registry=r)
        self.retried = Counter("gdw_tasks_retried", "Task attempts that failed and will retry", _LABELS, registry=r)
        self.interrupted = Counter(
            "gdw_tasks_interrupted", "Attempts cancelled, handed back or lost", (*_LABELS, "outcome"), registry=r
        )
        self.recovered = Counter(
            "gdw_lease_recoveries", "Tasks whose expired leases this process returned to the queue", registry=r
        )
        self.storage_errors = Counter(
            "gdw_storage_errors", "Storage (Redis) calls that failed", ("operation",), registry=r
        )
        self.duration = Histogram(
            "gdw_task_duration_seconds", "Execution time of an attempt", _LABELS, buckets=_DURATION_BUCKETS, registry=r
        )
        self.wait = Histogram(
            "gdw_task_queue_wait_seconds",
            "Time from due to started (queue wait)",
            _LABELS,
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("gdw_tasks_in_flight", "Tasks running in this worker now", registry=r)
        self._running: set[str] = set()  # ids counted in flight (a name the worker lacks never starts)
        self.claimed = Gauge("gdw_tasks_claimed", "Tasks leased and waiting in this worker's buffer", registry=r)
        if claimed is not None:
            self.claimed.set_function(claimed)

    def labels(self, task: TaskRecord) -> tuple[str, str]:
        name = task.name if task.name in self.known else UNREGISTERED
        return name, str(task.queue)

    # -- hooks ---------------------------------------------------------------------------------
    def before_task(self, task: TaskRecord) -> None:
        labels = self.labels(task)
        self.started.labels(*labels).inc()
        if task.id not in self._running:
            self._running.add(task.id)
            self.in_flight.inc()
        due = task.run_at or task.created_at
        if due:
            self.wait.labels(*labels).observe(max(0.0, (task.started_at or self.clock()) - due))

    def after_task(self, task: TaskRecord, outcome: Outcome) -> None:
        labels = self.labels(task)
        if task.id in self._running:
            self._running.discard(task.id)
            self.in_flight.dec()
        self.duration.labels(*labels).observe(max(0.0, outcome.duration))
        if outcome.status == "completed":
            self.completed.labels(*labels).inc()
        elif outcome.status == "retrying":
            self.retried.labels(*labels).inc()
        elif outcome.status == "failed":
            self.failed.labels(*labels).inc()
        elif outcome.status in _INTERRUPTED:
            self.interrupted.labels(*labels, outcome.status).inc()

    def on_recovered(self, task_ids: Sequence[str]) -> None:
        self.recovered.inc(len(task_ids))

    def on_storage_error(self, operation: str, error: BaseException) -> None:
        self.storage_errors.labels(str(operation)[:60]).inc()


class DeploymentSnapshot:
    """What one scrape of a deployment saw: queues (depth per state, paused, oldest pending) and
    workers. Built by :func:`read_deployment`."""

    def __init__(self, queues: Sequence[QueueInfo], workers: Sequence[WorkerInfo], now: float) -> None:
        self.queues = list(queues)
        self.workers = list(workers)
        self.now = now


async def read_deployment(storage: Any) -> DeploymentSnapshot:
    """Queue depths and workers: a fixed number of pipelined round trips whatever the number of
    tasks (storage.queues() and storage.workers())."""
    queues = await storage.queues()
    workers = await storage.workers()
    now = await storage.now()
    return DeploymentSnapshot(queues, workers, now)


class DeploymentCollector(Collector):
    """Exposes the latest :class:`DeploymentSnapshot` (set by whoever scrapes storage)."""

    def __init__(self) -> None:
        self.snapshot: DeploymentSnapshot | None = None

    def collect(self) -> Iterable[GaugeMetricFamily]:
        snap = self.snapshot
        depth = GaugeMetricFamily("gdw_queue_tasks", "Tasks in a queue by state", labels=["queue", "state"])
        paused = GaugeMetricFamily("gdw_queue_paused", "1 when the queue is paused", labels=["queue"])
        oldest = GaugeMetricFamily(
            "gdw_queue_oldest_pending_age_seconds", "Age of the oldest pending task", labels=["queue"]
        )
        workers = GaugeMetricFamily("gdw_workers", "Worker records by the state they report", labels=["state"])
        slots = GaugeMetricFamily("gdw_worker_slots", "Task slots of live workers, busy or all", labels=["kind"])
        if snap is not None:
            for q in snap.queues:
                for state, n in sorted(q.counts.items()):
                    depth.add_metric([q.name, state], float(n))
                paused.add_metric([q.name], 1.0 if q.paused else 0.0)
                if q.oldest_pending_at is not None:
                    oldest.add_metric([q.name], max(0.0, snap.now - q.oldest_pending_at))
            states: dict[str, int] = {}
            busy = total = 0
            for w in snap.workers:
                state = worker_state(w, snap.now)
                states[state] = states.get(state, 0) + 1
                if is_live(w, snap.now):
                    busy += w.busy
                    total += w.concurrency
            for state, n in sorted(states.items()):
                workers.add_metric([state], float(n))
            slots.add_metric(["busy"], float(busy))
            slots.add_metric(["all"], float(total))
        yield from (depth, paused, oldest, workers, slots)
