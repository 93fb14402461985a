"""Example tasks for trying gdw, for the docs and for the dashboard's demo mode.

Run them with a worker (``gdw worker demo_tasks --redis localhost:6379``) and submit them by name
(``gdw submit demo_tasks:sleepy --kw max_seconds:=3``). Every task here is a real function: each one
shows one behaviour of the queue.

====================  ==================================================================
``demo_tasks:fast``         returns at once (throughput)
``demo_tasks:sleepy``       sleeps a random time (busy slots, running column)
``demo_tasks:flaky``        fails with a given probability (retries, short backoff)
``demo_tasks:failing``      always fails (ends ``failed``, the dead-letter view)
``demo_tasks:progress``     slow, reports progress as it goes (``ctx.progress``)
``demo_tasks:cpu``          CPU-bound, a plain ``def`` (runs in the worker's thread pool)
``demo_tasks:cancellable``  works in steps and stops cleanly when cancelled
``demo_tasks:heartbeat``    tiny periodic task meant to be scheduled with ``--every``
``demo_tasks:fanout``       submits ``count`` subtasks (see :mod:`demo_tasks.runtime`)
``demo_tasks:resize``       ``resize(path, width)``: the example of the docs (simulated)
``demo_tasks:call_api``     a call to a rate-limited API: at most 1 per second across every worker
                            (``@task(rate="1/s")``), the rest wait ``throttled``
``demo_tasks:build_album``  a chord's callback: gets every ``resize`` result of an album, in order
====================  ==================================================================
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import random
import time
from typing import Any

from demo_tasks import runtime
from gdw_core import RetryPolicy, RetryStrategy, SkipRetry, TaskContext, task

#: every demo task name, in the order the docs list them
NAMES: tuple[str, ...] = (
    "demo_tasks:fast",
    "demo_tasks:sleepy",
    "demo_tasks:flaky",
    "demo_tasks:failing",
    "demo_tasks:progress",
    "demo_tasks:cpu",
    "demo_tasks:cancellable",
    "demo_tasks:heartbeat",
    "demo_tasks:fanout",
    "demo_tasks:resize",
    "demo_tasks:call_api",
    "demo_tasks:build_album",
)


class DemoFailure(RuntimeError):
    """The error the failing demo tasks raise on purpose."""


@task
async def fast(value: Any = None) -> Any:
    """A no-op: returns its argument."""
    return value


@task
async def sleepy(min_seconds: float = 0.1, max_seconds: float = 2.0) -> float:
    """Sleeps a random time between ``min_seconds`` and ``max_seconds``; returns the time slept."""
    if min_seconds < 0 or max_seconds < min_seconds:
        raise SkipRetry(f"need 0 <= min_seconds <= max_seconds, got {min_seconds}..{max_seconds}")
    seconds = random.uniform(min_seconds, max_seconds)
    await asyncio.sleep(seconds)
    return round(seconds, 3)


@task(retry=RetryPolicy(max_retries=4, base_delay=0.5, max_delay=5.0, strategy=RetryStrategy.EXPONENTIAL))
async def flaky(probability: float = 0.5, work_seconds: float = 0.2) -> str:
    """Fails with ``probability`` (0..1) on each attempt, so retries (0.5s, 1s, 2s, 4s) show."""
    if not 0 <= probability <= 1:
        raise SkipRetry(f"probability must be within 0..1, got {probability}")
    await asyncio.sleep(work_seconds)
    if random.random() < probability:
        raise DemoFailure(f"flaky task failed (p={probability:g})")
    return "ok"


@task(retry=RetryPolicy(max_retries=2, base_delay=0.2, max_delay=1.0, strategy=RetryStrategy.FIXED))
async def failing(message: str = "this task always fails") -> None:
    """Always raises: two quick retries, then the task ends ``failed``."""
    await asyncio.sleep(0.05)
    raise DemoFailure(message)


@task(context=True)
async def progress(steps: int = 10, step_seconds: float = 0.5, *, ctx: TaskContext) -> int:
    """Works in ``steps`` steps, reporting ``{"done": n, "of": steps}`` after each."""
    if steps < 1:
        raise SkipRetry(f"steps must be >= 1, got {steps}")
    for done in range(1, steps + 1):
        await asyncio.sleep(step_seconds)
        ctx.progress({"done": done, "of": steps})
    return steps


@task
def cpu(rounds: int = 200_000) -> str:
    """CPU-bound and synchronous (runs in the worker's thread pool): iterated SHA-256."""
    if rounds < 0:
        raise SkipRetry(f"rounds must be >= 0, got {rounds}")
    digest = b"gdw"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


@task(context=True)
async def cancellable(steps: int = 60, step_seconds: float = 1.0, *, ctx: TaskContext) -> dict[str, Any]:
    """Long work in small steps. Cancelling it (``gdw cancel ID``) interrupts the current step; it
    records how far it got as progress and lets the cancellation through."""
    done = 0
    try:
        for done in range(1, steps + 1):
            await asyncio.sleep(step_seconds)
            ctx.progress({"done": done, "of": steps})
    except asyncio.CancelledError:
        ctx.progress({"done": done, "of": steps, "stopped": True})
        raise
    return {"done": done, "of": steps}


@task(retry=RetryPolicy(max_retries=0))
async def heartbeat(label: str = "demo") -> dict[str, Any]:
    """A tiny periodic task: ``gdw submit demo_tasks:heartbeat --every 10s``."""
    return {"label": label, "at": time.time(), "pid": os.getpid()}


@task
async def fanout(count: int = 5, child: str = "demo_tasks:fast") -> list[str]:
    """Submits ``count`` subtasks named ``child`` (a demo task) and returns their ids.

    It submits through :func:`demo_tasks.runtime.producer`: the queue bound with
    ``runtime.bind(queue)`` (embedded use, the dashboard's demo) or else one connected to
    ``GDW_REDIS_URL`` (``gdw worker`` sets it to the worker's own Redis)."""
    if not 0 <= count <= 1000:
        raise SkipRetry(f"count must be within 0..1000, got {count}")
    if child not in NAMES or child == "demo_tasks:fanout":
        raise SkipRetry(f"child must be one of the demo tasks other than fanout, got {child!r}")
    queue = await runtime.producer()
    ids = await queue.submit_many(child, [[i] if child == "demo_tasks:fast" else [] for i in range(count)])
    return ids


@task(timeout=60.0)
async def resize(path: str, width: int) -> dict[str, Any]:
    """The docs' example (``gdw submit demo_tasks:resize photo.jpg 800``). Simulated: it computes
    the output name and the new height of a 4:3 image, taking time proportional to the width;
    it does not read or write files."""
    if not isinstance(path, str) or not path:
        raise SkipRetry("path must be a non-empty string")
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
        raise SkipRetry(f"width must be a positive integer, got {width!r}")
    await asyncio.sleep(min(2.0, width / 2000))
    stem, dot, ext = path.rpartition(".")
    output = f"{stem}_{width}w.{ext}" if dot and stem else f"{path}_{width}w"
    return {"input": path, "output": output, "width": width, "height": math.ceil(width * 3 / 4)}


@task(rate="1/s")
async def call_api(endpoint: str = "/v1/charges") -> dict[str, Any]:
    """A call to an API that allows one request a second: the limit (named ``demo_tasks:call_api``,
    shared by every worker) holds the rest back as ``throttled``. Change it live with
    ``gdw limit set demo_tasks:call_api --rate 5/s``."""
    await asyncio.sleep(0.05)
    return {"endpoint": endpoint, "at": time.time()}


@task
async def build_album(pictures: list[dict[str, Any]]) -> dict[str, Any]:
    """The callback of an album workflow (``chord(resize..., build_album)``): it runs once, after
    every resize completed, with their results in order."""
    if not isinstance(pictures, list):
        raise SkipRetry(f"build_album takes the list of resize results, got {type(pictures).__name__}")
    await asyncio.sleep(0.1)
    return {"pictures": [p.get("output") for p in pictures if isinstance(p, dict)], "count": len(pictures)}
