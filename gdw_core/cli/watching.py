"""Following one task until it ends, with a live status line on a terminal."""

from __future__ import annotations

import asyncio
import math

from rich.console import Console

from gdw_core import TaskQueue, TaskRecord, TaskStatus
from gdw_core.cli.output import attempts_text, clean, elapsed, relative, short
from gdw_core.duration import format_duration


def describe(rec: TaskRecord, now: float) -> str:
    text = f"task {clean(rec.id)} {rec.status}"
    if rec.status is TaskStatus.RUNNING:
        ran = elapsed(rec, now)
        since = f" for {format_duration(ran)}" if ran is not None else ""
        text += f"{since} ({attempts_text(rec)}, on {clean(rec.worker or '?')})"
    elif rec.status is TaskStatus.CLAIMED:
        text += f" (by {clean(rec.worker or '?')}, waiting for a free slot: not started)"
    elif rec.status is TaskStatus.RETRYING:
        last = f" after {clean(rec.last_error)}" if rec.last_error else ""
        text += f" (next attempt {relative(rec.run_at, now)}{last})"
    elif rec.status in (TaskStatus.SCHEDULED, TaskStatus.PENDING):
        text += f" (due {relative(rec.run_at, now)})" if rec.run_at > now else ""
    if rec.progress is not None and not rec.status.terminal:
        text += f" progress {short(rec.progress, 40)}"
    return text


async def follow(queue: TaskQueue, task_id: str, timeout: float | None, console: Console) -> TaskRecord:
    """Poll the task until it is completed, failed or cancelled; TimeoutError after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = math.inf if timeout is None else loop.time() + timeout
    pause = 0.02
    live = console.is_terminal
    status = console.status("", spinner="dots") if live else None
    if status is not None:
        status.start()
    try:
        while True:
            rec = await queue.inspect.task(task_id)
            if rec.status.terminal:
                return rec
            if status is not None:
                status.update(describe(rec, await queue.inspect.now()))
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(describe(rec, await queue.inspect.now()))
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.25)
    finally:
        if status is not None:
            status.stop()
