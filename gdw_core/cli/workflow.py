"""How ``gdw status`` shows a workflow node: its parents and children with their states, and the
workflow's progress (``37/40 completed``)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gdw_core.cli import output
from gdw_core.inspect import Inspector
from gdw_core.record import TaskRecord
from gdw_core.workflow.inspect import WorkflowNode, WorkflowView

#: parents / children listed by name; beyond this many, a count
SHOWN = 12


def in_workflow(rec: TaskRecord) -> bool:
    return bool(rec.parents or rec.children or rec.workflow)


async def task_view(inspect: Inspector, rec: TaskRecord, now: float) -> RenderableType:
    """The record's table, followed by its workflow part when it is a workflow node."""
    table = output.record_table(rec, now)
    if not in_workflow(rec):
        return table
    view = await inspect.workflow(rec.id)
    return Group(table, workflow_table(view, rec))


def _state(node: WorkflowNode | None) -> Text:
    if node is None or node.status is None:
        return Text("gone", style="dim")
    return output.status_text(node.status)


def _links(view: WorkflowView, ids: list[str]) -> Text:
    out = Text()
    for i, tid in enumerate(ids[:SHOWN]):
        if i:
            out.append(", ")
        out.append(output.clean(tid) + " ")
        out.append_text(_state(view.node(tid)))
    if len(ids) > SHOWN:
        out.append(f", ... {len(ids) - SHOWN} more")
    return out


def workflow_table(view: WorkflowView, rec: TaskRecord) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    counts = ", ".join(f"{n} {s}" for s, n in sorted(view.counts().items()))
    t.add_row("workflow", Text(f"{output.clean(view.workflow or '-')}: {view.progress} completed ({counts})"))
    if rec.parents:
        t.add_row("parents", _links(view, rec.parents))
    if rec.children:
        t.add_row("children", _links(view, rec.children))
    if rec.waiting and rec.status.value == "blocked":
        t.add_row("waiting for", f"{rec.waiting} parent(s)")
    if rec.cancelled_by:
        t.add_row("cancelled by", Text(f"parent {output.clean(rec.cancelled_by)}", style="red"))
    return t


async def workflow_doc(inspect: Inspector, rec: TaskRecord) -> dict[str, Any]:
    """``--json``: the workflow's progress and nodes (ids, states, parents, children)."""
    if not in_workflow(rec):
        return {}
    view = await inspect.workflow(rec.id)
    return {
        "workflow_progress": {"completed": view.completed, "total": view.total, "truncated": view.truncated},
        "workflow_nodes": [
            {"id": n.id, "status": None if n.status is None else str(n.status), "parents": list(n.parents)}
            for n in view.nodes
        ],
    }
