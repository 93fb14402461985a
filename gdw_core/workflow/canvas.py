"""Composing signatures: ``chain(a, b, c)``, ``group(s1, ..., sN)``, ``chord(group, callback)``,
and compiling any of them into the nodes of a dependency graph.

Result passing (docs/workflows.md): a chain member receives the previous member's result as its
FIRST positional argument (a previous group's result is the list of its members' results, in
member order); a chord callback receives the list of the group's results, in member order; a
group's own result is that list. A group nested directly in a group is flattened."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from gdw_core.errors import InvalidTask
from gdw_core.workflow.signature import Signature

if TYPE_CHECKING:
    from gdw_core.queue import TaskQueue
    from gdw_core.workflow.handle import WorkflowHandle

Canvas = Union[Signature, "Chain", "Group", "Chord"]


class _Submittable:
    async def submit(self, queue: TaskQueue) -> WorkflowHandle:
        from gdw_core.workflow.submit import submit_workflow

        return await submit_workflow(queue, self)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Chain(_Submittable):
    items: tuple[Canvas, ...]


@dataclass(frozen=True, slots=True)
class Group(_Submittable):
    items: tuple[Canvas, ...]


@dataclass(frozen=True, slots=True)
class Chord(_Submittable):
    header: Group
    callback: Canvas


def _items(items: tuple[object, ...], what: str) -> tuple[Canvas, ...]:
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = tuple(items[0])
    if not items:
        raise InvalidTask(f"{what} needs at least one member")
    for item in items:
        if not isinstance(item, (Signature, Chain, Group, Chord)):
            raise InvalidTask(f"a {what} member must be a signature (sig(...)), chain, group or chord, got {item!r}")
    return items  # type: ignore[return-value]


def chain(*items: Canvas) -> Chain:
    return Chain(_items(items, "chain"))


def group(*items: Canvas) -> Group:
    return Group(_items(items, "group"))


def chord(header: Group | list[Canvas] | tuple[Canvas, ...], callback: Canvas) -> Chord:
    if not isinstance(header, Group):
        header = group(*header)
    return Chord(header, _items((callback,), "chord callback")[0])


@dataclass(slots=True)
class Node:
    """One task of a compiled workflow: its signature, id and parents (feeding parents first)."""

    sig: Signature
    id: str
    parents: list[str] = field(default_factory=list)
    feeds: int = 0
    takes: str = ""


@dataclass(slots=True)
class Part:
    heads: list[Node]
    tails: list[Node]
    returns_list: bool  # its result is the list of its tails' results (a group)


def compile_canvas(canvas: Canvas) -> tuple[list[Node], Part]:
    """The nodes (in an order where in-canvas parents come first) and the outer part."""
    nodes: list[Node] = []
    return nodes, _compile(canvas, nodes)


def _compile(item: Canvas, nodes: list[Node]) -> Part:
    if isinstance(item, Signature):
        node = Node(item, item.task_id or os.urandom(16).hex())
        nodes.append(node)
        return Part([node], [node], False)
    if isinstance(item, Group):
        parts = [_compile(i, nodes) for i in item.items]
        return Part([h for p in parts for h in p.heads], [t for p in parts for t in p.tails], True)
    if isinstance(item, Chord):
        return _chain([item.header, item.callback], nodes)
    return _chain(list(item.items), nodes)


def _chain(items: list[Canvas], nodes: list[Node]) -> Part:
    first = prev = _compile(items[0], nodes)
    for item in items[1:]:
        part = _compile(item, nodes)
        for head in part.heads:
            head.parents = [t.id for t in prev.tails] + head.parents
            head.feeds = len(prev.tails)
            head.takes = "list" if prev.returns_list else "one"
        prev = part
    return Part(first.heads, prev.tails, prev.returns_list)
