"""``TaskQueue``: the embeddable facade. It composes a storage, a worker, a scheduler and
maintenance, and hands out the submit API (:class:`Submitter`), reads (:class:`Inspector`) and
operator actions (:class:`Controller`). It holds no task logic of its own."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import ModuleType, TracebackType
from typing import Any

from gdw_core import tracing
from gdw_core.clock import Clock, SystemClock
from gdw_core.control import Controller
from gdw_core.errors import QueueClosed, TaskFailed
from gdw_core.events import Event
from gdw_core.flow.limits import Limits
from gdw_core.hooks import Hooks, HookSet
from gdw_core.inspect import Inspector
from gdw_core.limits import DEFAULT_LIMITS, PayloadLimits
from gdw_core.maintenance import Maintenance
from gdw_core.record import DEFAULT_QUEUE, TaskRecord
from gdw_core.registry import TaskRegistry
from gdw_core.retry import RetryPolicy
from gdw_core.scheduler import Scheduler
from gdw_core.status import TaskStatus
from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import Command, Storage
from gdw_core.submitter import Submitter, TaskOptions, TaskRef
from gdw_core.worker import Worker
from gdw_core.workflow.canvas import Canvas
from gdw_core.workflow.dependency import workflow_options
from gdw_core.workflow.handle import WorkflowHandle
from gdw_core.workflow.submit import submit_workflow

_UNSET: Any = object()


class TaskQueue:
    """An asyncio task queue.

    ``worker_count`` task slots run in this process (0 = submit and inspect only); ``queue_size``
    caps waiting tasks per queue (QueueFull beyond, once this process's own worker has had its turn
    to take from a full queue; default 100 on memory storage, unbounded on shared storage unless
    given); ``buffer_size`` is how many tasks the worker claims ahead of its
    free slots; ``hooks`` (gdw_core.hooks.Hooks) see the worker's and every task's lifecycle.
    """

    def __init__(
        self,
        worker_count: int = 1,
        queue_size: int | None = _UNSET,
        buffer_size: int = 100,
        retry_policy: RetryPolicy | None = None,
        storage: Storage | None = None,
        *,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        registry: TaskRegistry | None = None,
        tasks: Iterable[Callable[..., Any] | ModuleType] = (),
        lease: float = 30.0,
        clock: Clock | None = None,
        run_scheduler: bool | None = None,
        worker_id: str | None = None,
        hooks: Sequence[Hooks] = (),
        payload_limits: PayloadLimits | None = None,
        queue_weights: Mapping[str, int] | None = None,
    ) -> None:
        if isinstance(worker_count, bool) or not isinstance(worker_count, int) or worker_count < 0:
            raise ValueError(f"worker_count must be an int >= 0, got {worker_count!r}")
        if buffer_size < 0:
            raise ValueError(f"buffer_size must be >= 0, got {buffer_size}")
        self.clock = clock or SystemClock()
        self.storage: Storage = storage if storage is not None else MemoryStorage(self.clock)
        if queue_size is _UNSET:
            queue_size = 100 if isinstance(self.storage, MemoryStorage) else None
        if queue_size is not None and queue_size < 1:
            raise ValueError(f"queue_size must be >= 1 or None, got {queue_size}")
        self.worker_count = worker_count
        self.queue_size: int | None = queue_size
        self.buffer_size = buffer_size
        self.retry_policy = retry_policy or RetryPolicy()
        self.queues = list(queues)
        self.default_queue = self.queues[0] if self.queues else DEFAULT_QUEUE
        self.registry = registry or TaskRegistry()
        self.lease = lease
        self.hooks = HookSet([*hooks, *tracing.worker_hooks(hooks)])  # tracing: when it is on
        #: the validation boundary's size and depth limits for what is submitted here (and for
        #: the results this queue's worker stores)
        self.payload_limits: PayloadLimits = payload_limits or DEFAULT_LIMITS
        if payload_limits is not None and hasattr(self.storage, "payload_limits"):
            # a storage that reads records back (Redis) reads them within the same limits
            self.storage.payload_limits = payload_limits
        self.inspect = Inspector(self.storage)
        self.control = Controller(self.storage)
        self._submitter = Submitter(self)
        #: named limits, shared by every worker of the storage: ``await queue.limits.set(...)``
        self.limits = Limits(self)
        self._worker: Worker | None = None
        if worker_count:
            self._worker = Worker(
                self.storage,
                self.registry,
                concurrency=worker_count,
                queues=self.queues,
                lease=lease,
                prefetch=buffer_size,
                retry_policy=self.retry_policy,
                worker_id=worker_id,
                on_command=self._on_command,
                hooks=self.hooks,
                payload_limits=payload_limits,
                queue_weights=queue_weights,
            )
        for item in tasks:  # after the worker exists: register() updates what it advertises
            self.register(item)
        scheduler_on = bool(worker_count) if run_scheduler is None else run_scheduler
        self._scheduler = Scheduler(self.storage, self.clock) if scheduler_on else None
        self._maintenance = (
            Maintenance(self.storage, interval=min(1.0, lease / 3), hooks=self.hooks) if worker_count else None
        )
        self.opened = False
        self.started = False
        self.closed = False
        self._shutdown_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._policy_dicts: dict[int, tuple[RetryPolicy, dict[str, Any]]] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def runs_tasks(self) -> bool:
        return self._worker is not None

    @property
    def worker(self) -> Worker | None:
        return self._worker

    def takes_here(self, queue: str) -> bool:
        """Whether this process's own running worker takes ``queue``'s tasks from a storage whose
        calls never yield to the event loop (memory): a loop of submits then leaves that worker
        no turn to take any, and the queue reads full when it is only untouched."""
        worker = self._worker
        return (
            worker is not None
            and self.started
            and not self.closed
            and isinstance(self.storage, MemoryStorage)
            and queue in worker.queues
        )

    def register(self, item: Callable[..., Any] | ModuleType, name: str | None = None) -> None:
        """Register a task function (or every task of a module) so it can be submitted by name."""
        if isinstance(item, ModuleType):
            self.registry.register_module(item)
        else:
            self.registry.register(item, name)
        if self._worker is not None:
            self._worker.info.tasks = self.registry.names()

    async def open_storage(self) -> None:
        if not self.opened:
            await self.storage.open()
            self.opened = True

    async def start(self) -> None:
        if self.closed:
            raise QueueClosed("this task queue was shut down; create a new one")
        if self.started:
            return
        await self.open_storage()
        self.started = True
        await self.limits.declare()  # the limits this queue's @task(rate=, concurrency=) declare
        if self._worker is not None:
            await self._worker.start()
        if self._scheduler is not None:
            self._scheduler.start()
        if self._maintenance is not None:
            self._maintenance.start()

    async def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop claiming; let in-flight tasks finish within ``timeout`` seconds; interrupt the rest
        and record them as retryable (never dropped). Safe to call twice; submit raises after."""
        async with self._shutdown_lock:
            if self.closed:
                return
            self.closed = True
            if self._worker is not None:
                await self._worker.stop(timeout)
            if self._scheduler is not None:
                await self._scheduler.stop()
            if self._maintenance is not None:
                await self._maintenance.stop()
            if self.opened:
                await self.storage.close()

    async def __aenter__(self) -> TaskQueue:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()

    def _on_command(self, command: Command) -> None:
        if command.kind == "shutdown":
            timeout = 0.0 if command.immediate else command.timeout
            task = asyncio.get_running_loop().create_task(self.shutdown(timeout))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def wait_closed(self) -> None:
        """Until this queue is shut down (by :meth:`shutdown` or a shutdown command)."""
        while not self.closed:
            await asyncio.sleep(0.05)
        if self._worker is not None:
            await self._worker.wait_stopped()

    # -- submitting ----------------------------------------------------------------------------
    def policy_dict(self, policy: RetryPolicy) -> dict[str, Any]:
        """``policy.to_dict()``, computed once per policy (records share it and never change it)."""
        cached = self._policy_dicts.get(id(policy))
        if cached is None or cached[0] is not policy:
            cached = self._policy_dicts[id(policy)] = (policy, policy.to_dict())
        return cached[1]

    def options(
        self,
        *,
        task_id: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        timeout: float | timedelta | None = None,
        retry: RetryPolicy | None = None,
        secret: bool | None = None,
        if_exists: str = "error",
        limits: Sequence[str] = (),
        expires: float | timedelta | datetime | None = None,
        unique_for: float | timedelta | None = None,
        unique_key: str | None = None,
        debounce: float | timedelta | None = None,
        result_ttl: float | timedelta | None = None,
        depends_on: Sequence[str] = (),
        on_parent_failure: str = "cancel",
    ) -> Submitter:
        """Per-call options, kept apart from the task's arguments:
        ``await queue.options(timeout=5, priority=9).submit(fetch, url)``. A ``task_id`` that
        already exists raises DuplicateTask, or with ``if_exists="skip"`` returns the existing id.
        Flow control (docs/flow-control.md): ``limits=["customer:42"]`` (named limits this call
        takes), ``expires=`` (never run if not started by then), ``unique_for=`` / ``unique_key=``
        (a second submit in the window returns the first id), ``debounce=`` (a burst runs once,
        with the latest arguments, that long after the last submit), ``result_ttl=`` (a completed
        run and its result are deleted that long after it finished). Workflows (docs/workflows.md):
        ``depends_on=[id, ...]`` (blocked until they complete), ``on_parent_failure="run"``."""
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        options = TaskOptions(task_id, queue, priority, timeout, retry, secret, if_exists, limits, expires)
        if unique_for is not None or unique_key is not None or debounce is not None:
            options = replace(options, unique_for=unique_for, unique_key=unique_key, debounce=debounce)
        if result_ttl is not None:
            options = replace(options, result_ttl=result_ttl)
        if depends_on or on_parent_failure != "cancel":  # gdw_core.workflow: blocked until they complete
            options = workflow_options(options, depends_on, on_parent_failure)
        return Submitter(self, options)

    async def submit_workflow(self, canvas: Canvas) -> WorkflowHandle:
        """Submit a chain / group / chord (or one signature) atomically: see gdw_core.workflow."""
        return await submit_workflow(self, canvas)

    def submit(self, task: TaskRef, /, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, str]:
        """``await queue.submit(fn, *args, **kwargs)``: see :meth:`Submitter.submit` (the
        submitter's coroutine itself, not one more around it)."""
        return self._submitter.submit(task, *args, **kwargs)

    async def submit_many(self, task: TaskRef, calls: Iterable[Sequence[Any] | dict[str, Any]], /) -> list[str]:
        return await self._submitter.submit_many(task, calls)

    async def schedule(self, task: TaskRef, delay: float | timedelta, /, *args: Any, **kwargs: Any) -> str:
        return await self._submitter.schedule(task, delay, *args, **kwargs)

    async def schedule_at(self, task: TaskRef, when: datetime, /, *args: Any, **kwargs: Any) -> str:
        return await self._submitter.schedule_at(task, when, *args, **kwargs)

    async def schedule_recurring(
        self,
        task: TaskRef,
        /,
        *args: Any,
        interval: float | timedelta | None = None,
        cron: str | None = None,
        entry_id: str | None = None,
        allow_overlap: bool = False,
        start_now: bool = False,
        **kwargs: Any,
    ) -> str:
        return await self._submitter.schedule_recurring(
            task,
            *args,
            interval=interval,
            cron=cron,
            entry_id=entry_id,
            allow_overlap=allow_overlap,
            start_now=start_now,
            **kwargs,
        )

    # -- reading and acting ----------------------------------------------------------------------
    async def status(self, task_id: str) -> TaskRecord:
        """The task's record: ``.status`` (a TaskStatus), attempts, every attempt's error, times."""
        await self.open_storage()
        return await self.inspect.task(task_id)

    async def wait(self, task_id: str, timeout: float | None = None) -> TaskRecord:
        """Until the task is completed, failed or cancelled; raises TimeoutError after ``timeout``."""
        await self.open_storage()
        loop = asyncio.get_running_loop()
        deadline = math.inf if timeout is None else loop.time() + timeout
        pause = 0.002
        while True:
            rec = await self.inspect.task(task_id)
            if rec.status.terminal:
                return rec
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"task {task_id} still {rec.status} after {timeout}s")
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.1)

    async def result(self, task_id: str, timeout: float | None = None) -> Any:
        """The task's return value once it completes; TaskFailed if it failed or was cancelled."""
        rec = await self.wait(task_id, timeout)
        if rec.status is TaskStatus.COMPLETED:
            return rec.result
        raise TaskFailed(task_id, str(rec.status), str(rec.last_error) if rec.last_error else None)

    async def cancel(self, task_id: str) -> TaskStatus:
        return await self.control.cancel(task_id)

    async def cancel_recurring(self, entry_id: str) -> None:
        await self.control.cancel_recurring(entry_id)

    async def retry_now(self, task_id: str) -> bool:
        """Run a scheduled or retrying task now, or re-run a failed or cancelled one (same as
        :meth:`rerun`); False when it is in another state."""
        return await self.control.retry_now(task_id)

    async def rerun(self, task_id: str) -> bool:
        """Retry a task as an operator would: a failed or cancelled one runs again under the same
        id (history kept, fresh attempt budget), a scheduled or retrying one now. False (nothing
        changed) for a task in another state."""
        return (await self.control.retry(task_id)).done

    def events(self, after: str | None = None) -> AsyncIterator[Event]:
        """An async iterator of every state transition from now on (or after event id ``after``)."""
        return self.inspect.events(after)
