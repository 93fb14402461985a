"""Time, injectable. Production uses the system clock (or Redis TIME inside scripts); tests drive a
:class:`ManualClock` so retry and schedule arithmetic can be checked exactly."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to. ``sleep`` waits until ``advance`` passes its deadline."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._changed = asyncio.Event()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
        self._changed.set()
        self._changed = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + max(0.0, seconds)
        while self._now < deadline:
            await self._changed.wait()
        await asyncio.sleep(0)
