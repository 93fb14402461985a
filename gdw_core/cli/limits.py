"""``gdw limit set|ls|rm``: named rate and concurrency limits, changed at runtime (gdw_core.flow)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from gdw_core.cli import output
from gdw_core.cli.connection import producer, resolve_url
from gdw_core.cli.exitcodes import CliError, ExitCode, usage
from gdw_core.cli.options import Json, Redis
from gdw_core.cli.running import run
from gdw_core.errors import InvalidTask
from gdw_core.flow.limit import LimitSpec, LimitUse, check_limit_name

app = typer.Typer(help="Named rate and concurrency limits shared by every worker.", no_args_is_help=True)

LimitName = Annotated[str, typer.Argument(help="The limit's name (a task takes it with limits=[...]).")]


@app.command("set")
def set_(
    name: LimitName,
    rate: Annotated[
        str | None, typer.Option("--rate", help="Starts per period: 100/m, 20/s, 5/10s (units s, m, h, d).")
    ] = None,
    burst: Annotated[
        int | None, typer.Option("--burst", help="How many may start at once after a quiet spell (default 1).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="At most this many running at once.")] = None,
    json_out: Json = False,
    redis: Redis = None,
) -> None:
    """Create or change the limit NAME (tasks waiting on it meet the new definition at once)."""
    try:
        spec = LimitSpec.build(name, rate, burst, concurrency)  # bad input: one line, nothing written
    except InvalidTask as exc:
        raise usage(str(exc)) from None
    url = resolve_url(redis)
    run(_set(url, spec, json_out), url)


async def _set(url: str, spec: LimitSpec, json_out: bool) -> int:
    async with producer(url) as queue:
        await queue.storage.set_limit(spec)
        if json_out:
            output.print_json({"limit": to_dict(LimitUse(spec))["spec"]})
        else:
            output.make_console().print(f"limit {output.clean(spec.name)} set: {spec.describe()}", markup=False)
        return 0


@app.command("ls")
def ls(json_out: Json = False, redis: Redis = None) -> None:
    """List the limits with their current use."""
    url = resolve_url(redis)
    run(_ls(url, json_out), url)


async def _ls(url: str, json_out: bool) -> int:
    async with producer(url) as queue:
        uses = await queue.limits.list()
        if json_out:
            output.print_json({"limits": [to_dict(u) for u in uses]})
        elif not uses:
            output.make_console(stderr=True).print("no limits defined", markup=False)
        else:
            output.make_console().print(table(uses))
        return 0


@app.command("rm")
def rm(name: LimitName, json_out: Json = False, redis: Redis = None) -> None:
    """Remove the limit NAME: tasks that take it are no longer held by it."""
    try:
        check_limit_name(name)
    except InvalidTask as exc:
        raise usage(str(exc)) from None
    url = resolve_url(redis)
    run(_rm(url, name, json_out), url)


async def _rm(url: str, name: str, json_out: bool) -> int:
    async with producer(url) as queue:
        if not await queue.limits.remove(name):
            raise CliError(f"no limit named {name!r} (see gdw limit ls)", ExitCode.NOT_FOUND)
        if json_out:
            output.print_json({"removed": name})
        else:
            output.make_console().print(f"limit {output.clean(name)} removed", markup=False)
        return 0


def to_dict(use: LimitUse) -> dict[str, Any]:
    s = use.spec
    return {
        "spec": {
            "name": s.name,
            "rate": None if s.rate is None else str(s.rate),
            "burst": s.burst,
            "concurrency": s.concurrency,
        },
        "holding": use.holding,
        "waiting": use.waiting,
        "next_start_in": round(use.next_start_in, 3),
    }


def table(uses: list[LimitUse]) -> Table:
    t = Table(box=None, header_style="bold underline", pad_edge=False, padding=(0, 2, 0, 0))
    for col in ("LIMIT", "RATE", "BURST", "RUNNING", "WAITING", "NEXT START"):
        t.add_column(col)
    for u in uses:
        s = u.spec
        running = f"{u.holding}/{s.concurrency}" if s.concurrency else "-"
        nxt = "-" if s.rate is None else ("now" if u.next_start_in <= 0 else f"in {u.next_start_in:.2f}s")
        cells = (
            output.clean(s.name),
            "-" if s.rate is None else str(s.rate),
            str(s.burst) if s.rate else "-",
            running,
            str(u.waiting) if s.concurrency else "-",
            nxt,
        )
        t.add_row(*(Text(c) for c in cells))  # never Rich markup from stored data
    return t
