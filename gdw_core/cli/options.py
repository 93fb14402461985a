"""Options several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

from gdw_core.cli.connection import DEFAULT_URL, ENV_VAR

Redis = Annotated[
    str | None,
    typer.Option(
        "--redis",
        envvar=ENV_VAR,
        show_envvar=True,
        help=f"Redis address: host:port, redis://[user:pass@]host:port/db, rediss://..., unix:///path "
        f"(default {DEFAULT_URL}).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
