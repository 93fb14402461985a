"""A task's workflow, live: every node with its state, parents and children, and the workflow's
progress. Opened with ``w`` from a task's detail; it re-reads on each refresh tick and whenever an
event names one of its nodes. Reads go through ``Inspector.workflow`` (bounded, see
gdw_core.workflow.inspect)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from gdw_core.errors import TaskNotFound
from gdw_core.workflow.inspect import WorkflowNode, WorkflowView
from gdw_tui import formatting as fmt
from gdw_tui import safe
from gdw_tui.messages import StorageChanged
from gdw_tui.options import Options
from gdw_tui.source import DataSource, is_connection_error
from gdw_tui.widgets.synced import Cell, SyncedTable

#: parents / children shown by id in a cell; beyond this many, a count
CELL_IDS = 3


def _ids(ids: tuple[str, ...]) -> Text:
    if not ids:
        return Text("-", "dim")
    shown = ", ".join(safe.clean(i)[:12] for i in ids[:CELL_IDS])
    more = f" +{len(ids) - CELL_IDS}" if len(ids) > CELL_IDS else ""
    return Text(shown + more)


def _state(node: WorkflowNode) -> Text:
    if node.status is None:
        return Text("gone", "dim")
    return fmt.status_text(str(node.status))


#: below this width the parents and children are counted in one column, so that the note
#: (a cancellation, say) still fits at 80 columns
NARROW = 110


def node_cells(node: WorkflowNode, own: str, narrow: bool = False) -> list[Cell]:
    note = Text(f"cancelled by {safe.clean(node.cancelled_by)[:12]}", "red") if node.cancelled_by else Text("")
    ident = Text(safe.clean(node.id)[: 10 if narrow else 16], "bold" if node.id == own else "")
    if narrow:
        links = Text(f"{len(node.parents)} in · {len(node.children)} out", "dim")
        return [ident, safe.text(safe.shorten(node.name, 20)), _state(node), links, note]
    return [ident, safe.text(node.name), _state(node), _ids(node.parents), _ids(node.children), note]


class NodesTable(SyncedTable):
    """The workflow's nodes, updated in place on each read: the row the operator is on and the
    scroll position stay where they are (a clear and refill put both back at the top each tick).
    Narrower than ``NARROW``, the parents and children are counts in one column."""

    WIDE = (
        ("id", "id"),
        ("task", "task"),
        ("state", "state"),
        ("parents", "parents"),
        ("children", "children"),
        ("note", "note"),
    )
    COMPACT = (("id", "id"), ("task", "task"), ("state", "state"), ("links", "in · out"), ("note", "note"))
    COLUMNS = WIDE

    def show(self, nodes: Sequence[WorkflowNode], own: str) -> None:
        narrow = (self.size.width or 120) < NARROW
        self.set_columns(self.COMPACT if narrow else self.WIDE)
        self.sync([(node.id, node_cells(node, own, narrow)) for node in nodes])


class WorkflowScreen(Screen[None]):
    BINDINGS = [Binding("escape,backspace", "app.pop_screen", "Back")]

    def __init__(self, task_id: str, source: DataSource, options: Options) -> None:
        super().__init__()
        self.task_id = task_id
        self.source = source
        self.options = options
        self.view: WorkflowView | None = None
        self._ids: set[str] = {task_id}
        self._reading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="wf-summary")
        yield NodesTable(id="wf-nodes")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(self.options.refresh_interval, self.request_read)
        self.request_read()

    def on_storage_changed(self, message: StorageChanged) -> None:
        if message.event is None or message.event.task_id in self._ids:
            self.request_read()

    def request_read(self) -> None:
        if not self._reading:
            self.run_worker(self.reload(), group="workflow-read")

    async def reload(self) -> None:
        self._reading = True
        try:
            read = self.source.queue.inspect.workflow(self.task_id)
            view = await asyncio.wait_for(read, self.source.read_timeout)
        except TaskNotFound:
            self.query_one("#wf-summary", Static).update(Text("this task is gone (retention removed it)", "yellow"))
            return
        except Exception as exc:
            if is_connection_error(exc):
                self.source.set_connection(False, exc)
            self.query_one("#wf-summary", Static).update(safe.text(f"cannot read the workflow: {exc}", "red"))
            return
        finally:
            self._reading = False
        self.show(view)

    def show(self, view: WorkflowView) -> None:
        self.view = view
        self._ids = {n.id for n in view.nodes}
        counts = ", ".join(f"{n} {s}" for s, n in sorted(view.counts().items()))
        summary = Text()
        summary.append(f"workflow {safe.clean(view.workflow or '-')}  ", "bold")
        summary.append(f"{view.progress} completed", "green" if view.completed == view.total else "")
        summary.append(f"  ({counts})" + ("  (first nodes only: too many to show)" if view.truncated else ""))
        self.query_one("#wf-summary", Static).update(summary)
        self.query_one("#wf-nodes", NodesTable).show(view.nodes, self.task_id)

    def on_resize(self) -> None:
        # the columns follow the width at once (once the table has its new size), not at the next read
        self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        if self.view is not None:
            self.query_one("#wf-nodes", NodesTable).show(self.view.nodes, self.task_id)
