"""Gathering concurrent single submits into one enqueue call.

A lone ``await queue.submit(...)`` is sent at once, alone (one FCALL, nothing waits). But when many
coroutines submit at the same time (a web server's requests, each submitting one task), every one
of them paying its own script call costs Redis a whole call's fixed work per task: most of a
single enqueue's cost (FCALL, the call's state, its event entry). So a single submit that arrives
while another is still on its way joins a *group* of its queue (and queue bound); the group is sent
at the end of the current event-loop iteration as one enqueue call — each task still gets its own
answer (created, already exists, queue full, or the task that stands for it). Nothing waits for a
timer: a group waits at most for the coroutines that run in the same loop iteration.

Tasks of a group are created in the order they were submitted, after the call in flight; a failed
call (Redis unreachable, out of memory) fails every submit of its group with the same error, as
separate calls would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gdw_core.record import TaskRecord

#: sends one queue's records under one queue bound (one enqueue call per chunk) and returns one
#: flag per record
Send = Callable[[list[TaskRecord], str | int], Awaitable[list[Any]]]


class Gathering:
    def __init__(self, send: Send) -> None:
        self._send = send
        #: single submits (sent alone or in a group) whose reply has not come back
        self.in_flight = 0
        self._groups: dict[tuple[str, str | int], list[tuple[TaskRecord, asyncio.Future[Any]]]] = {}
        self._running: set[asyncio.Task[None]] = set()

    def join(self, rec: TaskRecord, limit: str | int) -> asyncio.Future[Any]:
        """The future of ``rec``'s enqueue flag, sent with its queue's group at the end of this
        loop iteration."""
        loop = asyncio.get_running_loop()
        key = (rec.queue, limit)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = []
            loop.call_soon(self._flush, key)
        fut: asyncio.Future[Any] = loop.create_future()
        group.append((rec, fut))
        return fut

    def _flush(self, key: tuple[str, str | int]) -> None:
        group = self._groups.pop(key)
        task = asyncio.get_running_loop().create_task(self._run(key, group))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, key: tuple[str, str | int], group: list[tuple[TaskRecord, asyncio.Future[Any]]]) -> None:
        self.in_flight += 1
        try:
            flags = await self._send([rec for rec, _ in group], key[1])
        except asyncio.CancelledError:
            for _, fut in group:
                fut.cancel()
            raise
        except Exception as exc:  # every submit of the group sees the call's error
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(exc)
            return
        finally:
            self.in_flight -= 1
        for (_, fut), flag in zip(group, flags, strict=True):
            if not fut.done():
                fut.set_result(flag)
