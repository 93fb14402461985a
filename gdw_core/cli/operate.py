"""Operator actions on queues and workers: ``pause``, ``resume``, ``shutdown``."""

from __future__ import annotations

from typing import Annotated

import typer

from gdw_core.cli import arguments, output, overview
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.exitcodes import CliError, ExitCode, usage
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run
from gdw_core.errors import QueueNotFound
from gdw_core.limits import check_queue_name
from gdw_core.record import DEFAULT_QUEUE

QueueName = Annotated[str, typer.Argument(help="The queue.")]


def pause(
    queue: QueueName = DEFAULT_QUEUE,
    create: Annotated[bool, typer.Option("--create", help="Pause it even if no task or worker uses it yet.")] = False,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Stop workers claiming from QUEUE (running tasks finish; submitting still works).

    A queue no task or worker uses is refused (a typo must not make a phantom queue) unless --create."""
    url = resolve_url(redis)
    run(_set_paused(url, queue, True, json_out, create), url)


def resume(queue: QueueName = DEFAULT_QUEUE, json_out: Json = False, redis: Redis = None) -> None:
    """Let workers claim from QUEUE again."""
    url = resolve_url(redis)
    run(_set_paused(url, queue, False, json_out), url)


async def _set_paused(url: str, queue_name: str, paused: bool, json_out: bool, create: bool = False) -> int:
    if not queue_name.strip():
        raise usage("the queue name must not be empty")
    check_queue_name(queue_name)
    async with producer(url) as queue:
        try:
            if paused:
                await queue.control.pause(queue_name, create=create)
            else:
                await queue.control.resume(queue_name)
        except QueueNotFound:
            what = "nothing was paused (--create pauses it anyway)" if paused else "nothing to resume"
            message = f"no queue named {queue_name!r}: it has no tasks and no worker serves it; {what}"
            raise CliError(message, ExitCode.NOT_FOUND) from None
        if json_out:
            output.print_json({"queue": queue_name, "paused": paused})
        else:
            word = "paused" if paused else "resumed"
            output.make_console().print(f"queue {output.clean(queue_name)} {word}", markup=False)
        return 0


def shutdown(
    worker: Annotated[str | None, typer.Option("--worker", help="Only this worker (see gdw workers).")] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Time running tasks get to finish (default 30s).")
    ] = None,
    now: Annotated[bool, typer.Option("--now", help="Interrupt running tasks at once (they are retried).")] = False,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Ask workers (all, or one) to shut down gracefully: they stop claiming, let running tasks
    finish within --timeout and give back the rest (retried elsewhere, never lost)."""
    url = resolve_url(redis)
    if now and timeout is not None:
        raise usage("--now and --timeout conflict: --now does not wait")
    seconds = arguments.duration(timeout, "--timeout")
    run(_shutdown(url, worker, 30.0 if seconds is None else seconds, now, json_out), url)


async def _shutdown(url: str, worker: str | None, timeout: float, now: bool, json_out: bool) -> int:
    async with producer(url) as queue:
        found, _ = await overview.judged_workers(queue.inspect)
        live = overview.live(found)
        targets = [w for w in live if worker is None or w.id == worker]
        if worker is not None and not targets:
            raise CliError(f"no live worker with id {worker!r} (see gdw workers)", ExitCode.NOT_FOUND)
        await queue.control.shutdown(worker, timeout, now)
        ids = [w.id for w in targets]
        if json_out:
            output.print_json({"workers": ids, "timeout": 0.0 if now else timeout, "immediate": now})
        else:
            how = "now" if now else f"within {timeout:g}s"
            who = f"worker {output.clean(worker)}" if worker else f"{len(ids)} live worker(s)"
            output.make_console().print(f"asked {who} to shut down {how}", markup=False)
        return 0
