"""``gdw submit A ... --then B --then C``: a chain started from the shell. The first task takes
the command's arguments and options; each ``--then`` task receives the previous task's result as
its only argument (the chain rule of gdw_core.workflow) and runs in the same queue."""

from __future__ import annotations

from typing import Any

from gdw_core import TaskQueue, TaskRecord, chain, sig
from gdw_core.cli import arguments, output
from gdw_core.cli.exitcodes import CliError, ExitCode, usage
from gdw_core.cli.watching import follow
from gdw_core.workflow import WorkflowError

THEN_HELP = "Then run this task (module:function) with the previous result; repeatable: a chain."
AFTER_HELP = "Wait (blocked) until this task id completes; repeatable."


def then_names(then: list[str], scheduled: list[str]) -> list[str]:
    if then and scheduled:
        raise usage(f"--then and {' and '.join(scheduled)} conflict: a chain starts now")
    return [arguments.task_name(n) for n in then]


async def submit_chain(
    queue: TaskQueue,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    options: dict[str, Any],
    then: list[str],
    wait: bool,
    wait_timeout: float | None,
    json_out: bool,
) -> TaskRecord | None:
    """Submit the chain; with ``wait``, the last task's record once it ended."""
    first = sig(name, *args, **kwargs).options(
        task_id=options.get("task_id"),
        queue=options.get("queue"),
        priority=options.get("priority"),
        timeout=options.get("timeout"),
        retry=options.get("retry"),
        depends_on=options.get("depends_on"),
    )
    rest = [sig(n).options(queue=options.get("queue")) for n in then]
    try:
        handle = await queue.submit_workflow(chain(first, *rest))
    except WorkflowError as exc:
        raise CliError(str(exc), ExitCode.NOT_FOUND) from None
    names = [name, *then]
    if json_out and not wait:
        output.print_json({"workflow": handle.id, "ids": list(handle.ids), "names": names})
        return None
    line = " -> ".join(f"{output.clean(i)} ({output.clean(n)})" for i, n in zip(handle.ids, names, strict=True))
    console = output.make_console(stderr=wait)
    console.print(f"submitted workflow {output.clean(handle.id)}: {line}", markup=False)
    if not wait:
        return None
    try:
        return await follow(queue, handle.leaves[0], wait_timeout, output.make_console(stderr=True))
    except TimeoutError as exc:
        raise CliError(f"gave up waiting after --wait-timeout: {exc}", ExitCode.TIMEOUT) from None
