"""Reading a workflow back: every node reachable from one task through its parents and children,
with its state. Reads are bounded (at most ``limit`` nodes) and go level by level, each level's
records fetched concurrently."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from gdw_core.errors import TaskNotFound
from gdw_core.record import TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Storage

#: at most this many nodes are read for one view
VIEW_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class WorkflowNode:
    id: str
    name: str
    status: TaskStatus | None  # None: gone (purged by retention, or never stored)
    queue: str
    parents: tuple[str, ...]
    children: tuple[str, ...]
    cancelled_by: str | None = None
    result: object = None

    @classmethod
    def of(cls, rec: TaskRecord) -> WorkflowNode:
        return cls(
            rec.id,
            rec.name,
            rec.status,
            rec.queue,
            tuple(rec.parents),
            tuple(rec.children),
            rec.cancelled_by,
            rec.result,
        )


@dataclass(frozen=True, slots=True)
class WorkflowView:
    task_id: str  # the task it was read from
    workflow: str | None  # its workflow id (None for tasks tied only by depends_on)
    nodes: tuple[WorkflowNode, ...]  # parents before children where the graph allows
    truncated: bool  # more than VIEW_LIMIT nodes: the view stops there

    @property
    def total(self) -> int:
        return len(self.nodes)

    @property
    def completed(self) -> int:
        return sum(1 for n in self.nodes if n.status is TaskStatus.COMPLETED)

    def counts(self) -> dict[str, int]:
        return dict(Counter("gone" if n.status is None else str(n.status) for n in self.nodes))

    @property
    def progress(self) -> str:
        """``"37/40"``: completed nodes of all nodes."""
        return f"{self.completed}/{self.total}{'+' if self.truncated else ''}"

    def node(self, task_id: str) -> WorkflowNode | None:
        return next((n for n in self.nodes if n.id == task_id), None)


async def workflow_view(storage: Storage, task_id: str, limit: int = VIEW_LIMIT) -> WorkflowView:
    """The workflow of ``task_id`` (just the task, for one outside any workflow)."""
    root = await storage.get(task_id)
    if root is None:
        raise TaskNotFound(task_id)
    seen: dict[str, WorkflowNode] = {root.id: WorkflowNode.of(root)}
    frontier = [root.id]
    truncated = False
    while frontier:
        wanted: list[str] = []
        for tid in frontier:
            node = seen[tid]
            for other in (*node.parents, *node.children):
                if other not in seen and other not in wanted:
                    wanted.append(other)
        if len(seen) + len(wanted) > limit:
            wanted = wanted[: max(0, limit - len(seen))]
            truncated = True
        records = await asyncio.gather(*(storage.get(t) for t in wanted))
        for tid, rec in zip(wanted, records, strict=True):
            seen[tid] = WorkflowNode.of(rec) if rec is not None else WorkflowNode(tid, "?", None, "?", (), ())
        frontier = [t for t, r in zip(wanted, records, strict=True) if r is not None]
        if truncated:
            break
    return WorkflowView(root.id, root.workflow, tuple(_ordered(seen)), truncated)


def _ordered(nodes: dict[str, WorkflowNode]) -> list[WorkflowNode]:
    """Parents before children (Kahn's order; by id within a level, for a stable listing)."""
    indegree = {tid: sum(1 for p in n.parents if p in nodes) for tid, n in nodes.items()}
    level = sorted(t for t, d in indegree.items() if d == 0)
    out: list[WorkflowNode] = []
    while level:
        nxt: list[str] = []
        for tid in level:
            out.append(nodes[tid])
            for c in nodes[tid].children:
                if c in indegree:
                    indegree[c] -= 1
                    if indegree[c] == 0:
                        nxt.append(c)
        level = sorted(nxt)
    placed = {n.id for n in out}
    out.extend(n for t, n in nodes.items() if t not in placed)
    return out
