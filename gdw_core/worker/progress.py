"""Coalesced progress reports of one running task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class Progress:
    """At most one write in flight, always the latest value. ``report`` may be called from the
    task's thread (sync tasks)."""

    def __init__(self, write: Callable[[Any], Awaitable[Any]], loop: asyncio.AbstractEventLoop) -> None:
        self.write = write
        self.loop = loop
        self.value: Any = None
        self.dirty = False
        self.flushing: asyncio.Task[None] | None = None

    def report(self, value: Any) -> None:
        self.loop.call_soon_threadsafe(self._set, value)

    def _set(self, value: Any) -> None:
        self.value = value
        self.dirty = True
        if self.flushing is None:
            self.flushing = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self.dirty:
                self.dirty = False
                await self.write(self.value)
        finally:
            self.flushing = None

    async def settle(self) -> None:
        await asyncio.sleep(0)  # let reports queued from a thread arrive
        if self.flushing is not None:
            await self.flushing
        elif self.dirty:
            await self._flush()
