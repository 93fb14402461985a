"""What submitting a workflow returns: its ids and a way to wait for its result."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gdw_core.queue import TaskQueue


@dataclass(frozen=True, slots=True)
class WorkflowHandle:
    queue: TaskQueue
    id: str  # the workflow id (every node's ``workflow`` field)
    ids: tuple[str, ...]  # every node, parents before children
    roots: tuple[str, ...]  # the nodes that wait for no other node of the workflow
    leaves: tuple[str, ...]  # the nodes whose results are the workflow's result
    returns_list: bool  # the result is the list of the leaves' results (it ends in a group)

    async def result(self, timeout: float | None = None) -> Any:
        """The workflow's result: its last task's (a chain, a chord), or the list of its last
        group's results in member order. TaskFailed when one of those failed or was cancelled."""
        coro = asyncio.gather(*(self.queue.result(i) for i in self.leaves))
        results = await (coro if timeout is None else asyncio.wait_for(coro, timeout))
        return list(results) if self.returns_list else results[0]
