"""Commands about tasks: ``status``, ``ls``, and the one-task halves of ``cancel`` and ``retry``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.live import Live

from gdw_core import TaskRecord, TaskStatus
from gdw_core.cli import output
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.exitcodes import ExitCode, usage
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run
from gdw_core.cli.workflow import task_view, workflow_doc

#: ``ls`` without --state: the live states first, then recent history
LS_ORDER = (
    TaskStatus.RUNNING,
    TaskStatus.CLAIMED,
    TaskStatus.RETRYING,
    TaskStatus.THROTTLED,
    TaskStatus.PENDING,
    TaskStatus.SCHEDULED,
    TaskStatus.BLOCKED,  # workflow nodes waiting for their parents
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
    TaskStatus.COMPLETED,
)

TaskId = Annotated[str, typer.Argument(help="The task id.", show_default=False)]


def status(
    task_id: TaskId,
    json_out: Json = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep showing it until it ends.")] = False,
    redis: Redis = None,
) -> None:
    """Show one task: its state, attempts, every attempt's error, times and result."""
    url = resolve_url(redis)
    if watch and json_out:
        raise usage("--watch and --json conflict: --json prints one document")
    run(_status(url, task_id, json_out, watch), url)


async def _status(url: str, task_id: str, json_out: bool, watch: bool) -> int:
    async with producer(url) as queue:
        rec = await queue.inspect.task(task_id)
        if json_out:
            output.print_json({**output.record_doc(rec), **await workflow_doc(queue.inspect, rec)})
            return 0
        console = output.make_console()
        if not watch or rec.status.terminal or not console.is_terminal:
            if watch:  # not a terminal: wait quietly, then print the final state once
                rec = await queue.wait(task_id)
            console.print(await task_view(queue.inspect, rec, await queue.inspect.now()))
            return 0
        with Live(
            await task_view(queue.inspect, rec, await queue.inspect.now()), console=console, auto_refresh=False
        ) as live:
            while not rec.status.terminal:
                await asyncio.sleep(0.5)
                rec = await queue.inspect.task(task_id)
                live.update(await task_view(queue.inspect, rec, await queue.inspect.now()), refresh=True)
        return 0


def ls(
    state: Annotated[
        str | None, typer.Option("--state", help="Only this state: " + ", ".join(s.value for s in TaskStatus) + ".")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Only this queue.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many tasks.")] = 50,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """List tasks by state (default: running, claimed, retrying, pending, scheduled, then recent history)."""
    url = resolve_url(redis)
    try:
        states = (TaskStatus(state.strip().lower()),) if state is not None else LS_ORDER
    except ValueError:
        raise usage(f"--state {state!r}: use one of {', '.join(s.value for s in TaskStatus)}") from None
    run(_ls(url, states, queue, limit, json_out), url)


async def _ls(url: str, states: tuple[TaskStatus, ...], queue_name: str | None, limit: int, json_out: bool) -> int:
    async with producer(url) as queue:
        records: list[TaskRecord] = []
        for s in states:
            if len(records) >= limit:
                break
            records += await queue.inspect.tasks(s, queue_name, 0, limit - len(records))
        if json_out:
            output.print_json({"tasks": [output.record_doc(r) for r in records]})
        elif not records:
            output.make_console(stderr=True).print("no tasks", markup=False)
        else:
            console = output.make_console()
            console.print(output.tasks_table(records, await queue.inspect.now(), console.width))
        return 0


async def cancel_one(url: str, task_id: str, json_out: bool) -> int:
    """``gdw cancel ID`` (the command lives in gdw_core.cli.bulk)."""
    async with producer(url) as queue:
        was_over = (await queue.inspect.task(task_id)).status.terminal
        after = await queue.control.cancel(task_id)
        if after is TaskStatus.CANCELLED:
            code, text = ExitCode.OK, "cancelled"
        elif after in (TaskStatus.RUNNING, TaskStatus.CLAIMED):
            code, text = ExitCode.OK, "cancel requested: its worker stops it (within a second)"
        else:
            code, text = ExitCode.TASK_FAILED, f"not cancelled: it already ended {after}"
        if was_over and after is TaskStatus.CANCELLED:
            code, text = ExitCode.TASK_FAILED, "not cancelled: it was already cancelled"
        _say(json_out, task_id, str(after), text, code)
        return int(code)


async def retry_one(url: str, task_id: str, json_out: bool) -> int:
    """``gdw retry ID`` (the command lives in gdw_core.cli.bulk): a failed or cancelled task is
    re-run, a scheduled or retrying one made due now."""
    async with producer(url) as queue:
        item = await queue.control.retry(task_id)
        rec = await queue.inspect.task(task_id)
        if item.done:
            text = "re-run: pending again (history kept, fresh attempt budget)" if item.reason == "rerun" else "due now"
            code = ExitCode.OK
        else:
            code = ExitCode.TASK_FAILED
            text = f"not retried: only failed, cancelled, scheduled or retrying tasks can be retried, {item.reason}"
        _say(json_out, task_id, str(rec.status), text, code)
        return int(code)


def _say(json_out: bool, task_id: str, status: str, text: str, code: ExitCode) -> None:
    if json_out:
        output.print_json({"id": task_id, "status": status, "ok": code is ExitCode.OK, "message": text})
    else:
        console = output.make_console(stderr=code is not ExitCode.OK)
        console.print(f"task {output.clean(task_id)}: {text}", markup=False)
