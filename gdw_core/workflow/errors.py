"""What a workflow that cannot be submitted gets: one clear error, nothing enqueued."""

from __future__ import annotations

from collections.abc import Sequence

from gdw_core.errors import InvalidTask
from gdw_core.record import TaskRecord


class WorkflowError(InvalidTask):
    """A workflow (or a ``depends_on``) that cannot run as given: a cycle, a dependency on itself
    or on an unknown id, a task no worker registers, queues that cannot be atomic on Cluster."""


class UnknownDependency(WorkflowError):
    def __init__(self, task_id: str, dependent: str) -> None:
        self.task_id = task_id
        super().__init__(f"task {dependent} depends on {task_id}, which does not exist; nothing was enqueued")


class DependencyCycle(WorkflowError):
    def __init__(self, path: list[str]) -> None:
        self.path = path
        super().__init__(f"dependency cycle (each waits for the next): {' -> '.join(path)}; nothing was enqueued")


def check_unique(records: Sequence[TaskRecord]) -> None:
    """Every node id once (a storage-level check: the canvas compiler checks it first)."""
    seen: set[str] = set()
    for r in records:
        if r.id in seen:
            raise WorkflowError(f"task id {r.id} appears twice in the workflow; nothing was enqueued")
        seen.add(r.id)
