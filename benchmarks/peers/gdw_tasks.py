"""gdw's benchmark tasks (a ``gdw worker`` registers every public function of this module)."""

from __future__ import annotations

import asyncio

from benchmarks import probe as _probe


async def noop() -> None:
    _probe.done()


async def sleep() -> None:
    await asyncio.sleep(0.01)
    _probe.done()


async def stamp(i: int) -> None:
    _probe.started(i)
