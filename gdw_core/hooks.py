"""Lifecycle hooks: the one extension mechanism of a worker. Metrics and tracing use it too.

Subclass :class:`Hooks` and override what you need; each method may be sync or async. A hook that
raises is logged with the task it was called for and never loses the task or stops the worker.

    class Timing(Hooks):
        def after_task(self, task, outcome):
            print(task.name, outcome.status, outcome.duration)

    TaskQueue(..., hooks=[Timing()])     # or Worker(..., hooks=[...])
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gdw_core.record import AttemptError, TaskRecord
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.hooks")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended, as the worker saw it."""

    #: "completed" | "retrying" | "failed" | "cancelled" | "released" | "lost"
    status: str
    #: seconds the attempt ran (monotonic clock of the worker)
    duration: float
    error: AttemptError | None = None
    #: the retry delay chosen, for status "retrying"
    retry_delay: float | None = None


class Hooks:
    """No-op base class. ``context`` is a dict the worker keeps for its lifetime: what a startup
    hook puts there (a database pool...) every task declared with ``@task(context=True)`` sees as
    ``ctx.resources``."""

    def worker_started(self, worker: WorkerInfo, context: dict[str, Any]) -> Any:
        return None

    def worker_stopping(self, worker: WorkerInfo, context: dict[str, Any]) -> Any:
        return None

    def before_task(self, task: TaskRecord) -> Any:
        return None

    def after_task(self, task: TaskRecord, outcome: Outcome) -> Any:
        return None

    def on_retry(self, task: TaskRecord, error: AttemptError, delay: float) -> Any:
        return None

    def on_failure(self, task: TaskRecord, error: AttemptError) -> Any:
        return None

    def on_recovered(self, task_ids: Sequence[str]) -> Any:
        """Tasks whose expired leases this process's maintenance returned to the queue."""
        return None

    def on_storage_error(self, operation: str, error: BaseException) -> Any:
        return None


class HookSet:
    """Calls every hook in order; an exception in one is logged and the others still run."""

    def __init__(self, hooks: Sequence[Hooks] = ()) -> None:
        self.hooks = list(hooks)

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def add(self, hook: Hooks) -> None:
        self.hooks.append(hook)

    async def call(self, method: str, *args: Any, task_id: str | None = None) -> None:
        for hook in self.hooks:
            try:
                result = getattr(hook, method)(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                where = f" for task {task_id}" if task_id else ""
                log.exception("hook %s.%s failed%s", type(hook).__name__, method, where)
