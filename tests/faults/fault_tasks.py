"""Tasks for the fault-injection suite, imported by real ``gdw worker`` processes
(``python -m gdw_core.cli worker tests.faults.fault_tasks ...``).

Every execution appends JSON lines to ``$GDW_FAULT_LOG/exec-<pid>.log`` (one file per process,
opened with O_APPEND, one ``write`` per line): ``start`` when the task body begins and ``done``
when it returns. A line carries the task id, the attempt, the process id and an execution id
that the task also returns as its result, so the checker can tell which execution's outcome
Redis accepted. The log lives outside the Redis under test, so losing or corrupting that Redis
cannot hide an execution.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

from gdw_core import task
from gdw_core.context import TaskContext

_fd: int | None = None
_fd_pid = 0


def _log_fd() -> int:
    global _fd, _fd_pid
    if _fd is None or _fd_pid != os.getpid():
        directory = os.environ["GDW_FAULT_LOG"]
        _fd = os.open(os.path.join(directory, f"exec-{os.getpid()}.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fd_pid = os.getpid()
    return _fd


def record(ctx: TaskContext, phase: str, exec_id: str, **extra: Any) -> None:
    line = {"t": ctx.task_id, "a": ctx.attempt, "p": os.getpid(), "ph": phase, "x": exec_id, "at": time.time()}
    line.update(extra)
    os.write(_log_fd(), (json.dumps(line) + "\n").encode())


def _begin(ctx: TaskContext) -> str:
    exec_id = uuid.uuid4().hex[:16]
    record(ctx, "start", exec_id)
    return exec_id


def _end(ctx: TaskContext, exec_id: str) -> dict[str, Any]:
    record(ctx, "done", exec_id)
    return {"x": exec_id, "p": os.getpid(), "a": ctx.attempt}


def _runs_before(task_id: str) -> int:
    """How many executions of ``task_id`` started before this one (from every process's log)."""
    directory = os.environ["GDW_FAULT_LOG"]
    n = 0
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            n += sum(1 for line in f if f'"t": "{task_id}"' in line and '"ph": "start"' in line)
    return n


@task(context=True)
async def work(
    seconds: float = 0.0,
    per_attempt: list[float] | None = None,
    per_run: list[float] | None = None,
    *,
    ctx: TaskContext,
) -> dict[str, Any]:
    """Sleeps ``seconds`` (0 = just yields), recording its start and end. ``per_attempt`` gives
    a duration per attempt instead (the last one repeats); ``per_run`` one per execution, counted
    from the log (a drain gives the attempt back, so the attempt number does not move)."""
    if per_run:
        runs = _runs_before(ctx.task_id)
        seconds = per_run[min(runs, len(per_run) - 1)]
    exec_id = _begin(ctx)
    if per_attempt:
        seconds = per_attempt[min(ctx.attempt, len(per_attempt)) - 1]
    await asyncio.sleep(seconds)
    return _end(ctx, exec_id)


@task(context=True)
def busy(seconds: float, *, ctx: TaskContext) -> dict[str, Any]:
    """A sync task (runs in the worker's thread pool) that blocks for ``seconds``."""
    exec_id = _begin(ctx)
    time.sleep(seconds)
    return _end(ctx, exec_id)


@task(context=True)
async def stubborn(seconds: float, *, ctx: TaskContext) -> dict[str, Any]:
    """Ignores cancellation: keeps sleeping until ``seconds`` have passed, whatever happens."""
    exec_id = _begin(ctx)
    until = time.monotonic() + seconds
    cancelled = 0
    while time.monotonic() < until:
        try:
            await asyncio.sleep(until - time.monotonic())
        except asyncio.CancelledError:
            cancelled += 1
    record(ctx, "ignored-cancel", exec_id, cancelled=cancelled)
    return _end(ctx, exec_id)


@task(context=True)
async def poison(*, ctx: TaskContext) -> None:
    """Kills the worker process it runs in, every time."""
    _begin(ctx)
    os._exit(1)


@task(context=True)
async def tick(*, ctx: TaskContext) -> dict[str, Any]:
    """The body of recurring entries."""
    exec_id = _begin(ctx)
    return _end(ctx, exec_id)


@task(context=True)
async def witness(*, ctx: TaskContext) -> dict[str, Any]:
    """Records the wall clock this process sees (for the clock-skew scenario)."""
    exec_id = _begin(ctx)
    return _end(ctx, exec_id)


@task(context=True)
async def blob(data: str, *, ctx: TaskContext) -> dict[str, Any]:
    """Carries a large argument (the out-of-memory scenario)."""
    exec_id = _begin(ctx)
    return _end(ctx, exec_id)
