"""``gdw recurring ls|rm``: the recurring entries (--every / --cron)."""

from __future__ import annotations

from typing import Annotated

import typer

from gdw_core import TaskNotFound
from gdw_core.cli import output
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.exitcodes import CliError, ExitCode
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run

app = typer.Typer(help="Recurring entries (made by submit --every / --cron).", no_args_is_help=True)


@app.command("ls")
def ls(json_out: Json = False, redis: Redis = None) -> None:
    """List recurring entries with their schedule and next run."""
    url = resolve_url(redis)
    run(_ls(url, json_out), url)


async def _ls(url: str, json_out: bool) -> int:
    async with producer(url) as queue:
        entries = await queue.inspect.recurring()
        if json_out:
            output.print_json({"recurring": [e.to_dict() for e in entries]})
        elif not entries:
            output.make_console(stderr=True).print("no recurring entries", markup=False)
        else:
            output.make_console().print(output.recurring_table(entries, await queue.inspect.now()))
        return 0


@app.command("rm")
def rm(
    entry_id: Annotated[str, typer.Argument(help="The entry id (see gdw recurring ls).", show_default=False)],
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Stop a recurring entry (tasks it already made are left as they are)."""
    url = resolve_url(redis)
    run(_rm(url, entry_id, json_out), url)


async def _rm(url: str, entry_id: str, json_out: bool) -> int:
    async with producer(url) as queue:
        try:
            await queue.control.cancel_recurring(entry_id)
        except TaskNotFound:
            message = f"no recurring entry with id {entry_id!r} (see gdw recurring ls)"
            raise CliError(message, ExitCode.NOT_FOUND) from None
        if json_out:
            output.print_json({"removed": entry_id})
        else:
            output.make_console().print(f"recurring entry {output.clean(entry_id)} removed", markup=False)
        return 0
