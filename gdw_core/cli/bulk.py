"""``gdw retry`` / ``gdw cancel`` (one task by id, or every task a filter matches) and ``gdw purge``.

A filter walks one state in bounded batches (gdw_core.bulk): it counts first, asks before acting
(unless --yes), shows a progress bar on a terminal, and ends with a summary: how many were done,
how many skipped and why. ``--dry-run`` only counts."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gdw_core import TaskStatus
from gdw_core import bulk as B
from gdw_core.cli import arguments, output, tasks
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.exitcodes import CliError, ExitCode, usage
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run

OptionalId = Annotated[
    str | None, typer.Argument(help="The task id (or use --state to act on many).", show_default=False)
]
State = Annotated[str | None, typer.Option("--state", help="Act on every task in this state.", show_default=False)]
Name = Annotated[
    str | None, typer.Option("--name", help="... whose task name is this (module:func).", show_default=False)
]
Queue = Annotated[
    str | None, typer.Option("--queue", help="... in this queue (default: every queue).", show_default=False)
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="... that finished (or, if waiting, were created) within this long, e.g. 1h.",
        show_default=False,
    ),
]
Older = Annotated[
    str | None,
    typer.Option(
        "--older-than", help="... that finished (or were created) longer ago than this, e.g. 1d.", show_default=False
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Only count the tasks that match; change nothing.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

_VERB = {B.Action.RETRY: "retry", B.Action.CANCEL: "cancel", B.Action.PURGE: "purge (delete)"}


def retry(
    task_id: OptionalId = None,
    state: State = None,
    name: Name = None,
    queue: Queue = None,
    since: Since = None,
    older_than: Older = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Retry a task: a failed or cancelled one runs again under its id (its history kept, a fresh
    attempt budget); a scheduled or retrying one runs now. With --state, every task that matches."""
    url = resolve_url(redis)
    one = None if task_id is None else functools.partial(tasks.retry_one, url, task_id, json_out)
    _one_or_many(url, B.Action.RETRY, one, state, name, queue, since, older_than, dry_run, yes, json_out)


def _one_or_many(
    url: str,
    action: B.Action,
    one: Callable[[], Coroutine[Any, Any, int | None]] | None,
    state: str | None,
    name: str | None,
    queue: str | None,
    since: str | None,
    older_than: str | None,
    dry_run: bool,
    yes: bool,
    json_out: bool,
) -> None:
    """One task by id (``one``), or every task the filter matches."""
    if one is not None:
        _one_task_only(state, name, queue, since, older_than, dry_run)
        run(one(), url)
        return
    flt = _filter(action, state, name, queue)
    run(_bulk(url, action, flt, since, older_than, dry_run, yes, json_out), url)


def cancel(
    task_id: OptionalId = None,
    state: State = None,
    name: Name = None,
    queue: Queue = None,
    since: Since = None,
    older_than: Older = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Cancel a task: a waiting one at once; a running one is stopped by its worker. With --state,
    every task that matches."""
    url = resolve_url(redis)
    one = None if task_id is None else functools.partial(tasks.cancel_one, url, task_id, json_out)
    _one_or_many(url, B.Action.CANCEL, one, state, name, queue, since, older_than, dry_run, yes, json_out)


def purge(
    state: State = None,
    name: Name = None,
    queue: Queue = None,
    since: Since = None,
    older_than: Older = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Delete finished tasks (with their results) that match: --state is required (completed,
    failed or cancelled)."""
    url = resolve_url(redis)
    if state is None:
        raise usage("purge needs --state (completed, failed or cancelled): it never deletes everything")
    flt = _filter(B.Action.PURGE, state, name, queue)
    run(_bulk(url, B.Action.PURGE, flt, since, older_than, dry_run, yes, json_out), url)


def _one_task_only(*filters: object) -> None:
    if any(f not in (None, False) for f in filters):
        raise usage("give a task id or a filter (--state ...), not both")


def _filter(action: B.Action, state: str | None, name: str | None, queue: str | None) -> B.Filter:
    if state is None:
        raise usage(f"{action} needs a task id or --state")
    try:
        status = TaskStatus(state)
    except ValueError:
        known = ", ".join(s.value for s in TaskStatus)
        raise usage(f"--state: unknown state {state!r} (one of: {known})") from None
    flt = B.Filter(status, queue=queue, name=name)
    try:
        flt.check(action)
    except B.BulkError as exc:
        raise usage(str(exc)) from None
    except ValueError as exc:  # a malformed queue name
        raise usage(f"--queue: {exc}") from None
    return flt


def _describe(flt: B.Filter) -> str:
    parts = [f"{flt.state} tasks"]
    if flt.name:
        parts.append(f"named {flt.name}")
    parts.append(f"in queue {flt.queue}" if flt.queue else "in every queue")
    return " ".join(parts)


async def _bulk(
    url: str,
    action: B.Action,
    flt: B.Filter,
    since: str | None,
    older_than: str | None,
    dry_run: bool,
    yes: bool,
    json_out: bool,
) -> int:
    ago = arguments.duration(since, "--since", positive=True)
    older = arguments.duration(older_than, "--older-than", positive=True)
    async with producer(url) as queue:
        now = await queue.inspect.now()
        flt = B.Filter(
            flt.state,
            flt.queue,
            flt.name,
            since=None if ago is None else now - ago,
            before=None if older is None else now - older,
        )
        control = queue.control
        what = output.clean(_describe(flt))
        counted = await control.bulk(B.Action.COUNT, flt)
        matched = counted.total  # unreadable ones too: skipped later
        for queue_name, why in counted.failed_queues.items():  # e.g. an ACL user without scripts
            raise CliError(f"cannot count {what}: queue {queue_name}: {why}; nothing done", ExitCode.UNREACHABLE)
        if dry_run or matched == 0:
            if json_out:
                output.print_json({"action": str(action), "dry_run": dry_run, "matched": matched})
            else:
                output.make_console().print(f"{matched} tasks match ({what}); nothing done", markup=False)
            return 0
        if not yes and not typer.confirm(f"{_VERB[action]} {matched} {what}?", default=False, err=True):
            raise CliError("nothing done (not confirmed)", ExitCode.TASK_FAILED)
        console = output.make_console(stderr=True)
        if console.is_terminal and not json_out:
            bar = Progress(
                TextColumn(str(action)), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
            )
            with bar:
                job = bar.add_task(str(action), total=matched)

                def tick(s: B.Summary) -> None:
                    bar.update(job, completed=s.total)

                summary = await control.bulk(action, flt, tick)
        else:
            summary = await control.bulk(action, flt)
        _report(summary, what, json_out)
        return int(ExitCode.TASK_FAILED if summary.skipped or summary.failed_queues else ExitCode.OK)


def _report(summary: B.Summary, what: str, json_out: bool) -> None:
    if json_out:
        output.print_json(summary.to_dict())
        return
    console = output.make_console()
    console.print(
        f"{summary.action}: {summary.done} done, {sum(summary.skipped.values())} skipped ({what})", markup=False
    )
    for reason, n in summary.skipped.most_common():
        console.print(f"  skipped {n}: {output.clean(reason)}", markup=False)
    for queue, why in summary.failed_queues.items():
        console.print(f"  queue {output.clean(queue)} not finished: {output.clean(why)}", markup=False)
