"""The dashboard's one data source: a :class:`~gdw_core.queue.TaskQueue`, read through its
``inspect`` view and acted on through its ``control`` and submit methods. An embedded queue
(``--demo``) and a Redis connection look the same from here.

Every refresh reads a bounded amount: the queue records, the worker records, the recurring entries
and one page of tasks in the state on screen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gdw_core.errors import StorageUnavailable
from gdw_core.events import Event
from gdw_core.queue import TaskQueue
from gdw_core.record import TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Mark, QueueInfo
from gdw_core.views import ErrorGroup, TaskFilter, WaitStats
from gdw_core.workerinfo import WorkerInfo

#: the largest task page the dashboard reads in one refresh
PAGE = 100
#: the most recurring entries shown
RECURRING_PAGE = 50
#: wait times are read for this many queues, from this many recently started tasks each
WAIT_QUEUES = 10
WAIT_SAMPLE = 100


#: errors that mean "the storage is gone" rather than "it answered with something unreadable"
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, OSError, TimeoutError, StorageUnavailable)


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, CONNECTION_ERRORS) or type(exc).__module__.split(".")[0] == "redis"


@dataclass(slots=True)
class Snapshot:
    """What one refresh read. ``now`` is on the storage's clock."""

    now: float
    queues: list[QueueInfo] = field(default_factory=list)
    workers: list[WorkerInfo] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    status: TaskStatus = TaskStatus.RUNNING
    recurring: list[RecurringEntry] = field(default_factory=list)
    #: per queue: how long its recently started tasks sat due (p50/p99)
    waits: dict[str, WaitStats] = field(default_factory=dict)
    #: where the next page begins (None: the state's end was reached)
    next_cursor: Mark | None = None
    #: the page came from a scan filtered in storage
    filtered: bool = False

    def counts(self, queue: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for q in self.queues:
            if queue is None or q.name == queue:
                for k, v in q.counts.items():
                    out[k] = out.get(k, 0) + v
        return out


class DataSource:
    """Reads for the dashboard and the clock it counts down with.

    ``clock`` is the local clock (injectable: tests pass a fixed one); the difference to the
    storage's own clock is measured at each refresh so countdowns match what workers see.
    """

    def __init__(
        self,
        queue: TaskQueue,
        *,
        queue_name: str | None = None,
        clock: Callable[[], float] = time.time,
        read_timeout: float = 3.0,
    ) -> None:
        self.queue = queue
        self.read_timeout = read_timeout
        self.queue_name = queue_name
        self.clock = clock
        self.skew = 0.0
        #: None until the first answer, then whether the last read reached the storage
        self.connected: bool | None = None
        #: the full reason of the last connection failure ("AuthenticationError: ...")
        self.last_error = ""
        #: a filter evaluated in storage (name/queue/error); None reads plain pages
        self.storage_filter: TaskFilter | None = None

    def set_connection(self, ok: bool, error: BaseException | None = None) -> bool:
        """Record whether the storage answered; True when that changed."""
        if error is not None:
            detail = str(error) or ("no answer in time" if isinstance(error, TimeoutError) else "")
            cause = error.__cause__ or error.__context__
            if cause is not None and str(cause) and str(cause) not in detail:
                detail = f"{detail} ({type(cause).__name__}: {cause})" if detail else f"{type(cause).__name__}: {cause}"
            self.last_error = f"{type(error).__name__}: {detail}"
        changed = ok != self.connected
        self.connected = ok
        return changed

    @property
    def address(self) -> str:
        return self.queue.storage.address

    def now(self) -> float:
        return self.clock() + self.skew

    async def open(self) -> None:
        await self.queue.open_storage()

    async def read(
        self, status: TaskStatus, limit: int = PAGE, cursor: Mark | None = None, reverse: bool = False
    ) -> Snapshot:
        """One refresh. A storage that does not answer within ``read_timeout`` seconds counts as
        gone (TimeoutError), so the dashboard says so instead of waiting on it. ``cursor`` is
        where the page begins (None: the state's start; see Inspector.tasks_after / filtered);
        ``reverse`` walks the state the other way."""
        return await asyncio.wait_for(self._read(status, limit, cursor, reverse), self.read_timeout)

    async def _read(self, status: TaskStatus, limit: int, cursor: Mark | None, reverse: bool) -> Snapshot:
        inspect = self.queue.inspect
        storage_now = await inspect.now()
        self.skew = storage_now - self.clock()
        queues = await inspect.queues()
        if self.queue_name is not None:
            queues = [q for q in queues if q.name == self.queue_name]
        workers = await inspect.workers()
        flt = self.storage_filter
        if flt is not None:
            if self.queue_name is not None and flt.queue is None:
                flt = dataclasses.replace(flt, queue=self.queue_name)
            page = await inspect.filtered(status, flt, min(limit, PAGE), cursor)
            tasks, next_cursor, filtered = page.tasks, page.cursor, True
        else:
            size = min(limit, PAGE)
            rows = await inspect.tasks_after(status, self.queue_name, cursor, size + 1, reverse)  # +1: is there more?
            tasks = [rec for _, rec in rows[:size]]
            next_cursor, filtered = (rows[size - 1][0] if len(rows) > size else None), False
        recurring = (await inspect.recurring())[:RECURRING_PAGE]
        if self.queue_name is not None:
            recurring = [r for r in recurring if r.queue == self.queue_name]
        waits = {q.name: await inspect.wait_stats(q.name, WAIT_SAMPLE) for q in queues[:WAIT_QUEUES]}
        workers = sorted(workers, key=lambda w: w.id)
        return Snapshot(self.now(), queues, workers, tasks, status, recurring, waits, next_cursor, filtered)

    async def running_tasks(self, limit: int = PAGE) -> list[TaskRecord]:
        """Claimed and running tasks (what a shutdown would interrupt), one page of each."""
        inspect = self.queue.inspect
        claimed = await inspect.tasks(TaskStatus.CLAIMED, self.queue_name, 0, limit)
        running = await inspect.tasks(TaskStatus.RUNNING, self.queue_name, 0, limit)
        return running + claimed

    async def error_groups(self) -> list[ErrorGroup]:
        """The top errors of the last 15 minutes (bounded read, see gdw_core.views)."""
        return await asyncio.wait_for(self.queue.inspect.error_groups(), self.read_timeout)

    async def task_events(self, task_id: str) -> list[Event]:
        """The task's events still in the capped stream (a bounded read, see gdw_core.views)."""
        return await asyncio.wait_for(self.queue.inspect.task_events(task_id), self.read_timeout * 3)

    async def task(self, task_id: str) -> TaskRecord:
        return await asyncio.wait_for(self.queue.inspect.task(task_id), self.read_timeout)

    async def registered_names(self) -> list[str]:
        names = set(await self.queue.inspect.registered_names())
        names.update(self.queue.registry.names())
        return sorted(n for n in names if not n.startswith("local:"))
