"""``gdw repair``: put a queue's status indexes right after one was overwritten with a key of another
type (gdw_core.repair). It prints, per queue, what it moved aside and where to, how many tasks it put
back in which index, and the records it could not read; ``--dry-run`` says the same and changes
nothing. ``--fail-unreadable`` fails the records that cannot be read as tasks at all, each saying
why, instead of leaving them. Exit 0 when every queue was repaired (or needed nothing), 1 when a
record could not be read and was left as it is, or a queue's repair stopped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

import typer

from gdw_core import repair as R
from gdw_core.cli import output
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.exitcodes import CliError, ExitCode, usage
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run, warn
from gdw_core.limits import check_queue_name
from gdw_core.status import TaskStatus

Queues = Annotated[
    list[str] | None,
    typer.Option("--queue", help="Repair this queue (repeat for several; default: every queue).", show_default=False),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would change; change nothing.")]
FailUnreadable = Annotated[
    bool,
    typer.Option(
        "--fail-unreadable",
        help="Fail each record that cannot be read as a task (a key that is not a hash, no or an unknown "
        "status) with an InvalidPayload error saying why, so it is listed, retried or purged like any "
        "failed task; a key that is not a hash is renamed to <prefix>bad:<id> first. Default: list them "
        "and leave them.",
    ),
]

#: unreadable records listed per queue in the human output (--json lists up to gdw_core.repair's)
SHOWN = 10


def repair(
    queue: Queues = None,
    dry_run: DryRun = False,
    fail_unreadable: FailUnreadable = False,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Repair queues whose status index was overwritten with a key of another type: each such
    index is moved aside (renamed, kept for forensics) and every task is put back in the index of
    its status, so workers claim, recover, list and purge it again. Tasks already indexed right are
    left alone: running it twice changes nothing. Records that cannot be read are listed and left
    as they are, or with --fail-unreadable failed, each saying why."""
    url = resolve_url(redis)
    names = list(dict.fromkeys(queue or []))
    for name in names:
        try:
            check_queue_name(name)
        except ValueError as exc:
            raise usage(f"--queue: {exc}") from None
    run(_repair(url, names, dry_run, fail_unreadable, json_out), url)


#: failures that are the user's permissions, not the queue's keys
_REFUSALS = ("NoPermissionError", "AuthenticationError", "AuthorizationError")


async def _repair(url: str, names: list[str], dry_run: bool, fail_unreadable: bool, json_out: bool) -> int:
    async with producer(url) as queue:
        if names:
            known = await queue.control.known_queues()
            for name in names:
                if name not in known:
                    warn(f"no queue named {name!r} is known (no tasks listed, not paused, no worker serves it); "
                         "looking at its keys anyway")  # fmt: skip
        report = await queue.control.repair(names or None, dry_run, fail_unreadable)
    refused = [(q, why) for q, why in report.failed_queues.items() if why.startswith(_REFUSALS)]
    if refused and not report.queues and len(refused) == len(report.failed_queues):
        q, why = refused[0]  # (e.g. a read-only user: no scripts) every queue alike: one line, as other commands
        raise CliError(f"cannot repair queue {q}: Redis refused the command: {why}; nothing done", ExitCode.UNREACHABLE)
    if json_out:
        output.print_json(report.to_dict())
    else:
        _print(report, fail_unreadable)
    failed = bool(report.failed_queues) or (not dry_run and report.garbage_count > 0)
    return int(ExitCode.TASK_FAILED if failed else ExitCode.OK)


def _counts(counts: Mapping[TaskStatus, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _list(say: Callable[[str], None], records: list[R.Garbage], count: int) -> None:
    """The first SHOWN of ``count`` records, each with its reason."""
    for g in records[:SHOWN]:
        say(f"    {output.clean(g.task_id)}: {output.clean(g.reason)}")
    if count > SHOWN:
        say(f"    ... and {count - SHOWN} more (--json lists up to {R.GARBAGE_LISTED})")


def _print(report: R.Report, fail_unreadable: bool) -> None:
    console = output.make_console()

    def say(text: str) -> None:
        console.print(text, markup=False)

    would = "would be " if report.dry_run else ""
    for q in report.queues:
        name = output.clean(q.queue)
        if not q.changed and not q.garbage_count:
            say(f"queue {name!r}: nothing to repair ({q.records} task record(s) looked at)")
            continue
        say(f"queue {name!r} ({q.records} task record(s) looked at):")
        for m in q.moved_aside:
            say(f"  its {m.status} index (a {output.clean(m.kind)}, not a sorted set) {would}moved aside to "
                f"{output.clean(m.to)}")  # fmt: skip
        if q.reindexed:
            say(f"  {sum(q.reindexed.values())} task(s) {would}put back in the index of their status: "
                f"{_counts(q.reindexed)}")  # fmt: skip
        if q.unlisted:
            say(f"  {sum(q.unlisted.values())} task(s) {would}taken out of an index of another status: "
                f"{_counts(q.unlisted)}")  # fmt: skip
        if q.failed_count:
            say(f"  {q.failed_count} record(s) that are not tasks {would}failed, each saying why:")
            _list(say, q.failed, q.failed_count)
        if q.garbage_count:
            say(f"  {q.garbage_count} record(s) cannot be read and are left as they are:")
            _list(say, q.garbage, q.garbage_count)
    for queue_name, why in report.failed_queues.items():
        say(f"queue {output.clean(queue_name)!r} not repaired: {output.clean(why)}")
    moved = sum(len(q.moved_aside) for q in report.queues)
    put = sum(sum(q.reindexed.values()) for q in report.queues)
    failed = sum(q.failed_count for q in report.queues)
    if report.garbage_count:
        hint = "" if fail_unreadable else " (--fail-unreadable fails those that are not tasks at all)"
        say("records that cannot be read are left as they are: look at each (gdw status ID), fix or delete it "
            f"by hand, then run gdw repair again{hint}")  # fmt: skip
    if report.dry_run:
        say("dry run: nothing changed")
    elif report.changed:
        kept = f"; {moved} key(s) moved aside, kept for forensics (delete them when done)" if moved else ""
        gone = f", {failed} record(s) that were not tasks failed" if failed else ""
        say(f"repaired: {put} task(s) put back in their index{gone}{kept}")
