"""Tasks the workflow tests run (module level: a worker in any process finds them by name)."""

from __future__ import annotations

import asyncio
from typing import Any

from gdw_core import RetryPolicy, task

ONCE = RetryPolicy(max_retries=0)

#: per process: how often each flaky key was tried
TRIES: dict[str, int] = {}


@task(retry=ONCE)
async def add(x: int, y: int = 1) -> int:
    return x + y


@task(retry=ONCE)
async def total(values: list[int], extra: int = 0) -> int:
    return sum(values) + extra


@task(retry=ONCE)
async def collect(values: list[Any]) -> list[Any]:
    return values


@task(retry=ONCE)
async def boom(_: Any = None) -> None:
    raise RuntimeError("boom")


@task(retry=ONCE)
async def fails_once(key: str) -> str:
    """Fails the first time it runs in this process, then succeeds (a "fixed" bug)."""
    TRIES[key] = TRIES.get(key, 0) + 1
    if TRIES[key] == 1:
        raise RuntimeError("not yet")
    return key


#: how many ``overlapping`` calls run right now, and the most seen at once (per key)
RUNNING: dict[str, int] = {}
MOST: dict[str, int] = {}


@task
async def overlapping(key: str, i: int) -> int:
    """Records how many of its calls with ``key`` run at the same time."""
    RUNNING[key] = RUNNING.get(key, 0) + 1
    MOST[key] = max(MOST.get(key, 0), RUNNING[key])
    try:
        await asyncio.sleep(0.02)
    finally:
        RUNNING[key] -= 1
    return i
