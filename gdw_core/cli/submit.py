"""``gdw submit``: run a task now, later, at a time, or on a schedule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer

from gdw_core import DuplicateTask, InvalidTask, TaskQueue, TaskRecord, TaskStatus
from gdw_core.cli import arguments, flowflags, output, overview
from gdw_core.cli import chain as chain_cli
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.exitcodes import CliError, ExitCode, usage
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run, warn
from gdw_core.cli.watching import follow
from gdw_core.limits import check_entry_id, check_queue_name, check_task_id
from gdw_core.record import DEFAULT_QUEUE
from gdw_core.submitter import IF_EXISTS

HELP = """Submit a task by name (MODULE:FUNC): now, later, at a time or on a schedule.

\b
Arguments:
  ARG            JSON literal when it is one (3, true, null, "x", [1,2]),
                 else a string (photo.jpg)
  --kw k=v       keyword argument k, the string v
  --kw k:=JSON   keyword argument k, parsed as JSON (--kw width:=800)
  --args JSON    all positional arguments as a JSON array (instead of ARGs)
  --kwargs JSON  keyword arguments as a JSON object

\b
Examples:
  gdw submit demo_tasks:resize photo.jpg 800
  gdw submit demo_tasks:resize --kw path=photo.jpg --kw width:=800 --wait
  gdw submit demo_tasks:sleepy --in 30s
  gdw submit demo_tasks:fast --at 2026-12-01T09:00:00Z
  gdw submit demo_tasks:heartbeat --every 5m --id heartbeat
  gdw submit demo_tasks:flaky --cron '*/5 * * * *' --retries 5
  gdw submit demo_tasks:fast 7 --then demo_tasks:fast --then demo_tasks:fast
  gdw submit demo_tasks:fast --after 3f2a9c (blocked until 3f2a9c completes)

\b
The name is checked against what live workers advertise: when none has
it, gdw warns (the task waits for such a worker); --strict refuses.
Durations: 500ms, 30s, 5m, 2h, 1d or seconds. Times: ISO 8601 + zone."""


def submit(
    name: Annotated[str, typer.Argument(help="The task, as module:function.", show_default=False)],
    args: Annotated[list[str] | None, typer.Argument(help="Positional arguments (JSON or text).")] = None,
    kw: Annotated[list[str] | None, typer.Option("--kw", help="key=value (text) or key:=JSON; repeatable.")] = None,
    args_json: Annotated[str | None, typer.Option("--args", help="Positional arguments as a JSON array.")] = None,
    kwargs_json: Annotated[str | None, typer.Option("--kwargs", help="Keyword arguments as a JSON object.")] = None,
    in_: Annotated[str | None, typer.Option("--in", help="Run after this delay (30s, 5m).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Run at this time (ISO 8601 with zone).")] = None,
    every: Annotated[str | None, typer.Option("--every", help="Run repeatedly at this interval.")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Run on this cron schedule (UTC).")] = None,
    retries: Annotated[int | None, typer.Option("--retries", help="Retries after the first attempt.")] = None,
    backoff: Annotated[str | None, typer.Option("--backoff", help="fixed | linear | exponential | immediate.")] = None,
    base_delay: Annotated[str | None, typer.Option("--base-delay", help="Backoff base delay (1s).")] = None,
    max_delay: Annotated[str | None, typer.Option("--max-delay", help="Backoff cap (1m).")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Fail an attempt running longer.")] = None,
    task_id: Annotated[str | None, typer.Option("--id", help="Task id (recurring: entry id).")] = None,
    if_exists: Annotated[
        str, typer.Option("--if-exists", help="--id already taken: error (exit 6) | skip (keep it, exit 0).")
    ] = "error",
    priority: Annotated[int | None, typer.Option("--priority", help="Higher runs first.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Queue name (default: the task's).")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the task ends; exit 0 only if it completed.")
    ] = False,
    wait_timeout: Annotated[str | None, typer.Option("--wait-timeout", help="Give up waiting after this.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse names no live worker has registered.")] = False,
    then: Annotated[list[str] | None, typer.Option("--then", help=chain_cli.THEN_HELP)] = None,
    after: Annotated[list[str] | None, typer.Option("--after", help=chain_cli.AFTER_HELP)] = None,
    limit: flowflags.Limit = None,
    expires: flowflags.Expires = None,
    unique_for: flowflags.UniqueFor = None,
    unique_key: flowflags.UniqueKey = None,
    debounce: flowflags.Debounce = None,
    result_ttl: flowflags.ResultTtl = None,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Submit a task (see the examples below)."""
    url = resolve_url(redis)
    scheduled = [flag for flag, v in (("--in", in_), ("--at", at), ("--every", every), ("--cron", cron)) if v]
    then_names = chain_cli.then_names(then or [], scheduled)
    for dep in after or []:
        _grammar("--after", dep, check_task_id)
    plan = _plan(
        name, args or [], kw or [], args_json, kwargs_json, in_, at, every, cron, retries, backoff,
        base_delay, max_delay, timeout, task_id, priority, queue, wait, wait_timeout, if_exists,
    )  # fmt: skip
    if after:
        plan.options["depends_on"] = list(after)
    plan.options.update(flowflags.options(limit, expires, unique_for, unique_key, debounce, result_ttl))
    run(_submit(url, plan, strict, json_out, then_names), url)


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything submit will do, checked before anything is sent."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    delay: float | None
    at: datetime | None
    every: float | None
    cron: str | None
    options: dict[str, Any]
    wait: bool
    wait_timeout: float | None
    if_exists: str = "error"


def _plan(
    name: str,
    positional: list[str],
    kw: list[str],
    args_json: str | None,
    kwargs_json: str | None,
    in_: str | None,
    at: str | None,
    every: str | None,
    cron: str | None,
    retries: int | None,
    backoff: str | None,
    base_delay: str | None,
    max_delay: str | None,
    timeout: str | None,
    task_id: str | None,
    priority: int | None,
    queue: str | None,
    wait: bool,
    wait_timeout: str | None,
    if_exists: str = "error",
) -> Plan:
    when = [flag for flag, v in (("--in", in_), ("--at", at), ("--every", every), ("--cron", cron)) if v is not None]
    if len(when) > 1:
        raise usage(f"{' and '.join(when)} conflict: give at most one of --in, --at, --every, --cron")
    if wait and (every is not None or cron is not None):
        raise usage("--wait cannot follow a recurring entry (--every/--cron): it never ends")
    if wait_timeout is not None and not wait:
        raise usage("--wait-timeout needs --wait")
    if task_id is not None and not task_id.strip():
        raise usage("--id must not be empty")
    if queue is not None and not queue.strip():
        raise usage("--queue must not be empty")
    if if_exists not in IF_EXISTS:
        raise usage(f"--if-exists {if_exists!r}: use one of {', '.join(IF_EXISTS)}")
    recurring = every is not None or cron is not None
    _grammar("--id", task_id, check_entry_id if recurring else check_task_id)
    _grammar("--queue", queue, check_queue_name)
    checked_name = arguments.task_name(name)
    args, kwargs = arguments.call_arguments(positional, kw, args_json, kwargs_json)
    policy = arguments.retry_policy(
        retries,
        backoff,
        arguments.duration(base_delay, "--base-delay"),
        arguments.duration(max_delay, "--max-delay"),
    )
    options: dict[str, Any] = {
        "task_id": task_id,
        "queue": queue,
        "priority": priority,
        "timeout": arguments.duration(timeout, "--timeout", positive=True),
        "retry": policy,
    }
    return Plan(
        name=checked_name,
        args=args,
        kwargs=kwargs,
        delay=arguments.duration(in_, "--in"),
        at=arguments.future_time(at),
        every=arguments.duration(every, "--every", positive=True),
        cron=arguments.cron(cron),
        options=options,
        wait=wait,
        wait_timeout=arguments.duration(wait_timeout, "--wait-timeout"),
        if_exists=if_exists,
    )


def _grammar(flag: str, value: str | None, check: Callable[[str], str]) -> None:
    if value is not None:
        try:
            check(value)
        except InvalidTask as exc:
            raise usage(f"{flag}: {exc}") from None


async def _check_name(queue: TaskQueue, name: str, target_queue: str, strict: bool) -> None:
    found, _ = await overview.judged_workers(queue.inspect)
    workers = overview.live(found)  # a dead worker's allowlist runs nothing
    if any(name in w.tasks for w in workers):
        return
    serving = [w for w in workers if target_queue in w.queues]
    if serving:
        why = (
            f"the live workers on queue {target_queue!r} have not registered {name!r}: "
            "they will fail it as an unknown task"
        )
    elif workers:
        why = f"no live worker has registered {name!r}; it will wait on queue {target_queue!r} for one"
    else:
        why = f"no worker is running to register {name!r}; it will wait on queue {target_queue!r} for one"
    if strict:
        raise CliError(f"{why} (--strict): nothing was submitted", ExitCode.NOT_FOUND)
    warn(why)


async def _submit(url: str, plan: Plan, strict: bool, json_out: bool, then: list[str] | None = None) -> int:
    async with producer(url) as queue:
        await _check_name(queue, plan.name, plan.options.get("queue") or DEFAULT_QUEUE, strict)
        if then:  # a chain (gdw_core.cli.chain)
            end = await chain_cli.submit_chain(
                queue, plan.name, plan.args, plan.kwargs, plan.options, then, plan.wait, plan.wait_timeout, json_out
            )
            return 0 if end is None else finished(end, json_out)
        sub = queue.options(**plan.options)
        if plan.every is not None or plan.cron is not None:
            entry_id = await sub.schedule_recurring(
                plan.name, *plan.args, interval=plan.every, cron=plan.cron, **plan.kwargs
            )
            _report_recurring(entry_id, plan, json_out)
            return 0
        try:
            if plan.delay is not None:
                task_id = await sub.schedule(plan.name, plan.delay, *plan.args, **plan.kwargs)
            elif plan.at is not None:
                task_id = await sub.schedule_at(plan.name, plan.at, *plan.args, **plan.kwargs)
            else:
                task_id = await sub.submit(plan.name, *plan.args, **plan.kwargs)
        except DuplicateTask as exc:
            if plan.if_exists != "skip":
                message = f"task {exc.task_id!r} already exists ({exc.status}); nothing was submitted"
                raise CliError(f"{message} (--if-exists skip keeps the existing one)", ExitCode.DUPLICATE) from None
            task_id = exc.task_id
            if not json_out:
                warn(f"task {exc.task_id!r} already exists ({exc.status}): kept it, nothing new submitted")
        rec = await queue.inspect.task(task_id)
        if not plan.wait:
            if json_out:
                output.print_json({"submitted": output.record_doc(rec)})
            else:
                now = await queue.inspect.now()
                output.make_console().print(
                    f"submitted {output.clean(rec.id)} ({output.clean(rec.name)}) to queue "
                    f"{output.clean(rec.queue)}: {rec.status}"
                    + (f", runs {output.relative(rec.run_at, now)}" if rec.status is TaskStatus.SCHEDULED else ""),
                    markup=False,
                )
            return 0
        if not json_out:
            output.make_console(stderr=True).print(f"submitted {output.clean(task_id)}", markup=False)
        try:
            rec = await follow(queue, task_id, plan.wait_timeout, output.make_console(stderr=True))
        except TimeoutError as exc:
            raise CliError(f"gave up waiting after --wait-timeout: {exc}", ExitCode.TIMEOUT) from None
        return finished(rec, json_out)


def finished(rec: TaskRecord, json_out: bool) -> int:
    """Print how a task ended; the exit code (0 completed, 1 failed or cancelled)."""
    ok = rec.status is TaskStatus.COMPLETED
    if json_out:
        output.print_json(output.record_doc(rec))
    elif ok:
        output.make_console().print(output.short(rec.result, 10_000), markup=False)
    else:
        error = f": {output.clean(rec.last_error)}" if rec.last_error else ""
        attempts = f" after {rec.attempts} attempt{'s' if rec.attempts != 1 else ''}" if rec.attempts else ""
        output.make_console(stderr=True).print(
            f"task {output.clean(rec.id)} {rec.status}{attempts}{error}", markup=False
        )
    return int(ExitCode.OK if ok else ExitCode.TASK_FAILED)


def _report_recurring(entry_id: str, plan: Plan, json_out: bool) -> None:
    schedule = f"cron {plan.cron}" if plan.cron else f"every {plan.every:g}s"
    if json_out:
        output.print_json({"recurring": {"id": entry_id, "name": plan.name, "schedule": schedule}})
    else:
        output.make_console().print(
            f"recurring entry {output.clean(entry_id)}: {plan.name} {schedule} (gdw recurring rm {entry_id} stops it)",
            markup=False,
        )
