"""Read-only views of a queue, for the CLI and the dashboard. Every call reads a bounded amount:
one page of tasks, the counters, the worker records — never a scan of everything."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gdw_core import lifecycle, views
from gdw_core.errors import TaskNotFound
from gdw_core.events import Event
from gdw_core.record import TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import LEASED, TaskStatus
from gdw_core.storage.protocol import Mark, QueueInfo, Storage
from gdw_core.workerinfo import WorkerInfo
from gdw_core.workflow.inspect import WorkflowView, workflow_view

#: at most this many of a dead worker's ``held`` ids are looked up by :meth:`Inspector.dead_holdings`
DEAD_HOLDINGS_MAX = 100


@dataclass(frozen=True, slots=True)
class Utilization:
    """Slots of the live workers only (a dead or stopped worker's record counts for nothing)."""

    busy: int  # tasks running (started) now
    total: int  # slots
    workers: int = 0  # live workers
    claimed: int = 0  # tasks leased and waiting in live workers' buffers (not started)

    @property
    def ratio(self) -> float:
        return self.busy / self.total if self.total else 0.0


class Inspector:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def now(self) -> float:
        return await self.storage.now()

    async def task(self, task_id: str) -> TaskRecord:
        rec = await self.storage.get(task_id)
        if rec is None:
            raise TaskNotFound(task_id)
        return rec

    async def counts(self, queue: str | None = None) -> dict[TaskStatus, int]:
        return await self.storage.counts(queue)

    async def workflow(self, task_id: str) -> WorkflowView:
        """The workflow ``task_id`` belongs to: every node with its state, parents and children."""
        return await workflow_view(self.storage, task_id)

    async def tasks(
        self, status: TaskStatus | str, queue: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[TaskRecord]:
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        return await self.storage.list_tasks(TaskStatus(status), queue, offset, min(limit, 1000))

    async def tasks_after(
        self,
        status: TaskStatus | str,
        queue: str | None = None,
        after: Mark | None = None,
        limit: int = 50,
        reverse: bool = False,
    ) -> list[tuple[Mark, TaskRecord]]:
        """A page of a state by position (see Storage.list_after): stable while tasks move, and
        as cheap deep in the state as at its start."""
        if limit < 0:
            raise ValueError("limit must be >= 0")
        return await self.storage.list_after(TaskStatus(status), queue, after, min(limit, 1000), reverse)

    async def filtered(
        self, status: TaskStatus | str, flt: views.TaskFilter, limit: int = 100, cursor: Mark | None = None
    ) -> views.FilteredPage:
        """Tasks of a state matching ``flt``, a bounded window per call (see gdw_core.views)."""
        return await views.filtered_page(self.storage, TaskStatus(status), flt, min(limit, 1000), cursor)

    async def error_groups(self, window: float = views.ERROR_WINDOW) -> list[views.ErrorGroup]:
        return await views.error_groups(self.storage, await self.storage.now(), window)

    async def wait_stats(self, queue: str, sample: int = views.WAIT_SAMPLE) -> views.WaitStats:
        return await views.wait_stats(self.storage, queue, min(sample, views.SCAN_MAX))

    async def timeline(self, task_id: str) -> list[views.TimelineEntry]:
        return views.timeline(await self.task(task_id))

    async def task_events(self, task_id: str, scan: int = views.EVENT_SCAN) -> list[Event]:
        """The task's events still in the capped stream (at most ``scan`` events read)."""
        return await views.task_events(self.storage, task_id, min(scan, views.EVENT_SCAN))

    async def full_timeline(self, task_id: str) -> list[views.TimelineEntry]:
        """The record's timeline merged with the task's events from the stream."""
        rec = await self.task(task_id)
        return views.merged_timeline(rec, await self.task_events(task_id))

    async def queues(self) -> list[QueueInfo]:
        return await self.storage.queues()

    async def workers(self) -> list[WorkerInfo]:
        """Every worker record the storage keeps (live, draining, stopped, dead), each with
        ``state`` as :func:`gdw_core.lifecycle.worker_state` says on the storage's clock: a
        worker whose heartbeat went stale reads ``"dead"`` whatever it last said."""
        now = await self.storage.now()
        return [_judged(w, now) for w in await self.storage.workers()]

    async def live_workers(self) -> list[WorkerInfo]:
        """The workers whose heartbeat is fresh (running or draining)."""
        return [w for w in await self.workers() if w.state in _LIVE]

    async def dead_holdings(self, info: WorkerInfo, limit: int = DEAD_HOLDINGS_MAX) -> list[TaskRecord]:
        """For a dead worker: the tasks of its last ``held`` list that are still leased to it
        (claimed or running under its id), i.e. what waits for lease recovery. Reads at most
        ``limit`` records; empty for a worker that is not dead."""
        if lifecycle.worker_state(info, await self.storage.now()) != "dead":
            return []
        out: list[TaskRecord] = []
        for task_id in info.held[: max(0, min(limit, DEAD_HOLDINGS_MAX))]:
            rec = await self.storage.get(task_id)
            if rec is not None and rec.status in LEASED and rec.worker == info.id:
                out.append(rec)
        return out

    async def utilization(self) -> Utilization:
        live = await self.live_workers()
        return Utilization(
            sum(w.busy for w in live),
            sum(w.concurrency for w in live),
            len(live),
            sum(w.claimed for w in live),
        )

    async def registered_names(self) -> list[str]:
        """Task names some live worker advertises (what a submit form can offer)."""
        names: set[str] = set()
        for w in await self.live_workers():
            names.update(w.tasks)
        return sorted(names)

    async def recurring(self) -> list[RecurringEntry]:
        return await self.storage.recurring()

    async def events(self, after: str | None = None, poll: float = 1.0) -> AsyncIterator[Event]:
        """Every event after the id ``after`` (default: from now on), as it happens."""
        cursor = after if after is not None else await self.storage.last_event_id()
        while True:
            batch = await self.storage.read_events(cursor, wait=poll)
            for event in batch:
                cursor = event.id
                yield event


_LIVE = ("running", "draining")


def _judged(info: WorkerInfo, now: float) -> WorkerInfo:
    state = lifecycle.worker_state(info, now)
    return info if state == info.state else dataclasses.replace(info, state=state)
