"""``options(depends_on=[...])`` on a plain submit: the task waits, ``blocked``, until those
tasks complete (or, with ``on_parent_failure="run"``, finish in any way)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from gdw_core.errors import InvalidTask
from gdw_core.record import TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Storage
from gdw_core.submitter import TaskOptions
from gdw_core.workflow.errors import WorkflowError
from gdw_core.workflow.rules import check_on_parent_failure
from gdw_core.workflow.signature import check_depends_on


def workflow_options(options: TaskOptions, depends_on: Sequence[str], on_parent_failure: str) -> TaskOptions:
    return dataclasses.replace(
        options,
        depends_on=check_depends_on(list(depends_on)),
        on_parent_failure=check_on_parent_failure(on_parent_failure),
    )


async def enqueue_dependent(storage: Storage, records: Sequence[TaskRecord]) -> None:
    for rec in records:
        if rec.status is not TaskStatus.PENDING or rec.delay is not None:
            raise InvalidTask("depends_on cannot be combined with a delay or a run-at time; nothing was enqueued")
        if rec.id in rec.parents:
            raise WorkflowError(f"task {rec.id} depends on itself; nothing was enqueued")
    await storage.enqueue_workflow(records)
