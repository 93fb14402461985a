"""Where Redis is, how to say so without a password, and a producer-only queue on it."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from gdw_core import TaskQueue
from gdw_core.cli.exitcodes import CliError, ExitCode
from gdw_core.errors import GdwError
from gdw_core.storage.redis.address import EXAMPLES, parse_url, redact, secrets_in

__all__ = ["namespace", "producer", "read_url_file", "redact", "resolve", "resolve_url", "secret_of"]

DEFAULT_URL = "localhost:6379"
ENV_VAR = "GDW_REDIS_URL"
FILE_ENV_VAR = "GDW_REDIS_FILE"
NAMESPACE_ENV_VAR = "GDW_NAMESPACE"
DEFAULT_NAMESPACE = "gdw"
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[^:/@\s]+)(:\d+)?(/\d+)?$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")


@dataclass
class Target:
    """What the root options (``gdw --redis-file F --namespace N CMD``) chose for every command."""

    redis_file: str | None = None
    namespace: str | None = None


#: set by the ``gdw`` root callback; each command reads it through resolve_url / namespace()
chosen = Target()


def read_url_file(path: str, where: str = "--redis-file") -> str:
    """The Redis URL in ``path`` (first non-empty line; as container secrets are mounted)."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise CliError(f"{where} {path!r}: cannot read it ({exc.strerror or exc})") from None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CliError(f"{where} {path!r} is empty: put the Redis URL on its first line")
    return lines[0]


def resolve_url(given: str | None) -> str:
    """``--redis``, else ``--redis-file``, else ``GDW_REDIS_URL``, else ``GDW_REDIS_FILE``, else
    ``localhost:6379``; checked for shape (every scheme RedisStorage takes, Sentinel and Cluster
    included) with the password never echoed."""
    return resolve(given)[0]


def resolve(given: str | None) -> tuple[str, str | None]:
    """Like :func:`resolve_url`, with the file the URL was read from (None if not from a file)."""
    source: str | None = None
    if given:
        url = given
    elif chosen.redis_file:
        source = chosen.redis_file
        url = read_url_file(source)
    elif os.environ.get(ENV_VAR):
        url = os.environ[ENV_VAR]
    elif os.environ.get(FILE_ENV_VAR):
        source = os.environ[FILE_ENV_VAR]
        url = read_url_file(source, FILE_ENV_VAR)
    else:
        url = DEFAULT_URL
    url = url.strip()
    if "://" not in url and not _HOST_PORT.match(url):
        raise CliError(f"bad Redis address {redact(url)!r}: use host:port or a URL ({EXAMPLES})")
    try:
        parse_url(url)
    except GdwError as exc:
        raise CliError(str(exc)) from None
    return url, source


def namespace(given: str | None = None) -> str:
    """``--namespace``, else ``GDW_NAMESPACE``, else ``gdw``: the key prefix of the deployment."""
    name = (given or chosen.namespace or os.environ.get(NAMESPACE_ENV_VAR) or DEFAULT_NAMESPACE).strip()
    if not _NAMESPACE.match(name):
        raise CliError(
            f"bad namespace {name[:60]!r}: letters, digits and _ . : - (up to 100, starting with a letter or digit)"
        )
    return name


def secret_of(url: str) -> str | None:
    """The longest secret the URL carries (password, or a password-only userinfo)."""
    found = secrets_in(url)
    return found[0] if found else None


@contextlib.asynccontextmanager
async def producer(url: str) -> AsyncIterator[TaskQueue]:
    """A queue with no task slots on the Redis at ``url``: submit, inspect and control only."""
    try:
        from gdw_core.storage.redis import RedisStorage, fail_fast
    except ImportError:
        raise CliError("the Redis backend (gdw_core.storage.redis) is not available", ExitCode.UNREACHABLE) from None

    # a command fails fast and says so, where a worker would retry with backoff
    storage = RedisStorage.from_url(url, namespace=namespace(), **fail_fast())
    queue = TaskQueue(worker_count=0, storage=storage)
    try:
        await queue.open_storage()
        yield queue
    finally:
        with contextlib.suppress(Exception):
            await queue.shutdown()
