"""Tasks run by the real ``gdw worker`` processes of the adversarial suite
(``python -m gdw_core.cli worker tests.adversarial.adv_tasks ...``).

Each execution of ``good`` appends one JSON line to ``$GDW_FAULT_LOG/exec-<pid>.log`` (O_APPEND, one
``write`` per line), outside the Redis under test, so the suite can count executions exactly."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from gdw_core import task
from gdw_core.context import TaskContext
from gdw_core.retry import RetryPolicy

NO_RETRY = RetryPolicy(max_retries=0)


def _log(ctx: TaskContext, phase: str) -> None:
    directory = os.environ.get("GDW_FAULT_LOG")
    if not directory:
        return
    line = {"t": ctx.task_id, "a": ctx.attempt, "p": os.getpid(), "ph": phase, "at": time.time()}
    fd = os.open(os.path.join(directory, f"exec-{os.getpid()}.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


@task(context=True)
async def good(n: int = 0, *, ctx: TaskContext) -> int:
    """A well-behaved task: logs its execution and returns ``n * 2``."""
    _log(ctx, "done")
    return n * 2


@task(context=True, retry=NO_RETRY)
async def slow(seconds: float, *, ctx: TaskContext) -> str:
    _log(ctx, "start")
    await asyncio.sleep(seconds)
    _log(ctx, "done")
    return "slept"


def _unencodable(kind: str) -> Any:
    if kind == "set":
        return {1, 2}
    if kind == "bytes":
        return b"\x00\xff"
    if kind == "object":
        return object()
    if kind == "complex":
        return 1j
    if kind == "tuple_key":
        return {(1, 2): "x"}
    if kind == "deep":
        value: Any = 1
        for _ in range(1000):
            value = [value]
        return value
    if kind == "huge":
        return "x" * (2 * 1024 * 1024)
    if kind == "cycle":
        loop: list[Any] = []
        loop.append(loop)
        return loop
    raise ValueError(kind)


UNENCODABLE = ("set", "bytes", "object", "complex", "tuple_key", "deep", "huge", "cycle")


@task(context=True, retry=NO_RETRY)
async def bad_result(kind: str, *, ctx: TaskContext) -> Any:
    """Returns a value JSON cannot hold (or one over the payload limits)."""
    _log(ctx, "done")
    return _unencodable(kind)


@task(retry=RetryPolicy(max_retries=4, base_delay=0.05, max_delay=0.05))
async def always_fails() -> None:
    raise RuntimeError("always fails")


@task(context=True, retry=RetryPolicy(max_retries=3, base_delay=0.05, max_delay=0.05))
async def drained(flag: str, *, ctx: TaskContext) -> int:
    """Runs for a long time unless the file ``flag`` exists (then returns at once)."""
    _log(ctx, "start")
    while not Path(flag).exists():
        await asyncio.sleep(0.05)
    _log(ctx, "done")
    return ctx.attempt


@task(timeout=0.5, retry=NO_RETRY)
def thread_side_effect(path: str, seconds: float) -> str:
    """A sync task in the worker's thread pool: sleeps, then writes ``path``."""
    time.sleep(seconds)
    Path(path).write_text("it happened")
    return "wrote"


@task(retry=NO_RETRY)
def thread_cancellable(path: str, seconds: float, started: str) -> str:
    """A sync thread task (cannot be stopped): marks it started, sleeps, then writes ``path``."""
    Path(started).write_text("started")
    time.sleep(seconds)
    Path(path).write_text("it happened")
    return "wrote"
