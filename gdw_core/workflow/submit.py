"""Submitting a workflow: compile the canvas, check everything, build the records, then store them
in one atomic storage step (``Storage.enqueue_workflow``): all of it or nothing."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gdw_core import lifecycle
from gdw_core.errors import QueueClosed
from gdw_core.record import TaskRecord
from gdw_core.submitter import Submitter
from gdw_core.workflow.canvas import Canvas, Node, compile_canvas
from gdw_core.workflow.errors import DependencyCycle, WorkflowError
from gdw_core.workflow.handle import WorkflowHandle

if TYPE_CHECKING:
    from gdw_core.queue import TaskQueue


async def submit_workflow(queue: TaskQueue, canvas: Canvas) -> WorkflowHandle:
    """Store every task of ``canvas``; roots are pending at once, the rest blocked until their
    parents complete. Bad input (a lambda on Redis, a cycle, an unknown dependency, a task no live
    worker registers, queues that cannot be atomic on Cluster) raises before anything is stored."""
    nodes, part = compile_canvas(canvas)
    for node in nodes:
        node.parents += [d for d in node.sig.depends_on if d not in node.parents]
    ordered = topological(nodes)
    workflow_id = "wf-" + os.urandom(8).hex()
    records = [record(queue, n, workflow_id) for n in ordered]
    if queue.closed:
        raise QueueClosed("the task queue is shut down; nothing was enqueued")
    if not queue.opened:
        await queue.open_storage()
    await check_registered(queue, records)
    await queue.storage.enqueue_workflow(records)
    inner = {n.id for n in nodes}
    return WorkflowHandle(
        queue,
        workflow_id,
        tuple(r.id for r in records),
        tuple(n.id for n in nodes if not any(p in inner for p in n.parents)),
        tuple(t.id for t in part.tails),
        part.returns_list,
    )


def record(queue: TaskQueue, node: Node, workflow_id: str) -> TaskRecord:
    s = node.sig
    options = s.task_options()
    if options.task_id is None:
        options = dataclasses.replace(options, task_id=node.id)
    rec = Submitter(queue, options).build(s.task, s.args, dict(s.kwargs))
    rec.parents = list(node.parents)
    rec.feeds = node.feeds
    rec.takes = node.takes
    rec.on_parent_failure = s.on_parent_failure
    rec.workflow = workflow_id
    return rec


def topological(nodes: Sequence[Node]) -> list[Node]:
    """Parents before children; a dependency on itself or a cycle raises (nothing stored)."""
    by_id: dict[str, Node] = {}
    for n in nodes:
        if n.id in by_id:
            raise WorkflowError(f"task id {n.id} appears twice in the workflow; nothing was enqueued")
        by_id[n.id] = n
    for n in nodes:
        if n.id in n.parents:
            raise WorkflowError(f"task {n.id} depends on itself; nothing was enqueued")
    out: list[Node] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for start in nodes:
        if state.get(start.id):
            continue
        stack: list[tuple[Node, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node.id] = 1
                path.append(node.id)
            inner = [p for p in node.parents if p in by_id]
            if i < len(inner):
                stack.append((node, i + 1))
                nxt = by_id[inner[i]]
                if state.get(nxt.id) == 1:
                    cycle = [*path[path.index(nxt.id) :], nxt.id]
                    raise DependencyCycle(cycle)
                if not state.get(nxt.id):
                    stack.append((nxt, 0))
                continue
            state[node.id] = 2
            path.pop()
            out.append(node)
    return out


async def check_registered(queue: TaskQueue, records: Sequence[TaskRecord]) -> None:
    """On shared storage: every task name must be registered by some live worker (when any
    worker is live; with none, the tasks wait for one, as any submitted task does)."""
    if queue.storage.supports_local_callables:
        return  # memory: the submitter already refused a name this process does not register
    now = await queue.storage.now()
    live = [w for w in await queue.storage.workers() if lifecycle.is_live(w, now)]
    if not live:
        return
    known = {name for w in live for name in w.tasks}
    missing = sorted({r.name for r in records if r.name not in known})
    if missing:
        raise WorkflowError(
            f"no live worker registers {', '.join(missing)} "
            f"(live workers run: {', '.join(sorted(known)) or 'nothing'}); nothing was enqueued"
        )
