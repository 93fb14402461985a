"""Options several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

from gdw_core.cli.connection import DEFAULT_URL, ENV_VAR, FILE_ENV_VAR, NAMESPACE_ENV_VAR, chosen

# no envvar= here: resolve_url reads GDW_REDIS_URL itself, after --redis-file (an explicit file
# beats the environment)
Redis = Annotated[
    str | None,
    typer.Option(
        "--redis",
        help=f"Redis address: host:port, redis://[user@]host:port/db, rediss://..., unix:///path, "
        f"redis+cluster://host:port, redis+sentinel://h1:26379,h2:26379/SERVICE/DB "
        f"(default ${ENV_VAR}, else the file ${FILE_ENV_VAR}, else {DEFAULT_URL}). "
        f"Keep passwords out of argv: use ${ENV_VAR} or --redis-file.",
        show_default=False,
    ),
]
RedisFile = Annotated[
    str | None,
    typer.Option(
        "--redis-file",
        metavar="PATH",
        help=f"Read the Redis URL from this file (first line), as container secrets are mounted "
        f"(or ${FILE_ENV_VAR}; --redis beats it).",
        show_default=False,
    ),
]
Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        envvar=NAMESPACE_ENV_VAR,
        show_envvar=True,
        help="Key prefix of this deployment on Redis (default gdw): namespaces never see each other.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]


def choose(redis_file: RedisFile = None, namespace: Namespace = None) -> None:
    """The root options: ``gdw [--redis-file PATH] [--namespace NS] COMMAND ...``."""
    chosen.redis_file = redis_file
    chosen.namespace = namespace
