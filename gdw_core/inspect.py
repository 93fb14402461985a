"""Read-only views of a queue, for the CLI and the dashboard. Every call reads a bounded amount:
one page of tasks, the counters, the worker records — never a scan of everything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from gdw_core.errors import TaskNotFound
from gdw_core.events import Event
from gdw_core.record import TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import QueueInfo, Storage
from gdw_core.workerinfo import WorkerInfo


@dataclass(frozen=True, slots=True)
class Utilization:
    busy: int
    total: int

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

    async def tasks(
        self, status: TaskStatus | str, queue: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[TaskRecord]:
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        return await self.storage.list_tasks(TaskStatus(status), queue, offset, min(limit, 1000))

    async def queues(self) -> list[QueueInfo]:
        return await self.storage.queues()

    async def workers(self) -> list[WorkerInfo]:
        return await self.storage.workers()

    async def utilization(self) -> Utilization:
        workers = await self.storage.workers()
        live = [w for w in workers if w.state != "stopped"]
        return Utilization(sum(w.busy for w in live), sum(w.concurrency for w in live))

    async def registered_names(self) -> list[str]:
        """Task names some live worker advertises (what a submit form can offer)."""
        names: set[str] = set()
        for w in await self.storage.workers():
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
