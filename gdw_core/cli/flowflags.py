"""``gdw submit``'s flow-control flags (docs/flow-control.md): named limits, expiry, uniqueness
over time, debounce and the result's lifetime, checked before anything is sent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from gdw_core.cli import arguments
from gdw_core.cli.exitcodes import usage
from gdw_core.duration import parse_duration
from gdw_core.errors import InvalidSchedule

Limit = Annotated[
    list[str] | None,
    typer.Option("--limit", help="A named limit this task takes (repeatable), e.g. stripe or customer:42."),
]
Expires = Annotated[
    str | None, typer.Option("--expires", help="Never run if not started by then: a duration (10m) or a time.")
]
UniqueFor = Annotated[
    str | None,
    typer.Option(
        "--unique-for", help="A second submit of the same task (or --unique-key) within this returns the first id."
    ),
]
UniqueKey = Annotated[str | None, typer.Option("--unique-key", help="What counts as the same task for --unique-for.")]
Debounce = Annotated[
    str | None,
    typer.Option("--debounce", help="A burst runs once, with the latest arguments, this long after the last submit."),
]
ResultTtl = Annotated[
    str | None, typer.Option("--result-ttl", help="Delete the completed task and its result this long after.")
]


def expires(text: str | None) -> float | datetime | None:
    """``--expires``: a duration from now, or a future time (ISO 8601 with a zone)."""
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except InvalidSchedule:
        return arguments.future_time(text, "--expires")
    if seconds <= 0:
        raise usage(f"--expires: must be more than zero, got {text!r}")
    return seconds


def options(
    limit: list[str] | None,
    expires_text: str | None,
    unique_for: str | None,
    unique_key: str | None,
    debounce: str | None,
    result_ttl: str | None,
) -> dict[str, Any]:
    """The ``queue.options(...)`` these flags ask for (only the ones given)."""
    given: dict[str, Any] = {
        "limits": list(limit) if limit else None,
        "expires": expires(expires_text),
        "unique_for": arguments.duration(unique_for, "--unique-for", positive=True),
        "unique_key": unique_key,
        "debounce": arguments.duration(debounce, "--debounce", positive=True),
        "result_ttl": arguments.duration(result_ttl, "--result-ttl", positive=True),
    }
    return {k: v for k, v in given.items() if v is not None}
