"""A task signature: a task with its arguments and options, not yet submitted."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from gdw_core.errors import InvalidTask
from gdw_core.limits import check_task_id
from gdw_core.retry import RetryPolicy
from gdw_core.submitter import TaskOptions, TaskRef
from gdw_core.workflow.rules import check_on_parent_failure

if TYPE_CHECKING:
    from gdw_core.queue import TaskQueue
    from gdw_core.workflow.handle import WorkflowHandle


@dataclass(frozen=True, slots=True)
class Signature:
    """``sig(resize, "a.png", width=200).options(queue="img", depends_on=[other_id])``."""

    task: TaskRef
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    queue: str | None = None
    priority: int | None = None
    timeout: float | None = None
    retry: RetryPolicy | None = None
    secret: bool | None = None
    #: ids of stored tasks (or of other nodes of the same workflow) it also waits for; their
    #: results are not passed to it
    depends_on: tuple[str, ...] = ()
    #: a parent failed for good or was cancelled: "cancel" this task (default) or "run" it anyway
    on_parent_failure: str = "cancel"
    #: named limits this node takes on top of its task's own (gdw_core.flow), e.g. ["stripe"]
    limits: tuple[str, ...] = ()
    #: a completed node (and its result) is deleted this many seconds after it finished
    result_ttl: float | None = None

    def options(
        self,
        *,
        task_id: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        timeout: float | timedelta | None = None,
        retry: RetryPolicy | None = None,
        secret: bool | None = None,
        depends_on: list[str] | tuple[str, ...] | None = None,
        on_parent_failure: str | None = None,
        limits: list[str] | tuple[str, ...] | None = None,
        result_ttl: float | timedelta | None = None,
    ) -> Signature:
        """A copy with these options set (the ones not given are kept)."""
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        if isinstance(result_ttl, timedelta):
            result_ttl = result_ttl.total_seconds()
        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "task_id": task_id,
                "queue": queue,
                "priority": priority,
                "timeout": timeout,
                "retry": retry,
                "secret": secret,
                "on_parent_failure": on_parent_failure,
                "result_ttl": result_ttl,
            }.items()
            if v is not None
        }
        if depends_on is not None:
            changes["depends_on"] = check_depends_on(depends_on)
        if limits is not None:
            changes["limits"] = tuple(limits)
        out = replace(self, **changes)
        out.task_options()  # refuse bad options now, not at submit
        return out

    def task_options(self) -> TaskOptions:
        check_on_parent_failure(self.on_parent_failure)
        return TaskOptions(
            self.task_id,
            self.queue,
            self.priority,
            self.timeout,
            self.retry,
            self.secret,
            limits=list(self.limits),
            result_ttl=self.result_ttl,
        )

    async def submit(self, queue: TaskQueue) -> WorkflowHandle:
        from gdw_core.workflow.submit import submit_workflow

        return await submit_workflow(queue, self)


def check_depends_on(ids: Any) -> tuple[str, ...]:
    if isinstance(ids, str) or not isinstance(ids, (list, tuple)):
        raise InvalidTask(f"depends_on must be a list of task ids, got {ids!r}")
    return tuple(dict.fromkeys(check_task_id(i) for i in ids))


def sig(task: TaskRef, /, *args: Any, **kwargs: Any) -> Signature:
    """A signature of ``task(*args, **kwargs)`` (a function or a ``"module:function"`` name)."""
    return Signature(task, tuple(args), dict(kwargs))
