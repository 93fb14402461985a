"""Where Redis is, how to say so without a password, and a producer-only queue on it."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from gdw_core import TaskQueue
from gdw_core.cli.exitcodes import CliError, ExitCode

DEFAULT_URL = "localhost:6379"
ENV_VAR = "GDW_REDIS_URL"
_SCHEMES = ("redis://", "rediss://", "unix://")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[^:/@\s]+)(:\d+)?(/\d+)?$")


def resolve_url(given: str | None) -> str:
    """``--redis`` if given, else ``GDW_REDIS_URL``, else ``localhost:6379``; checked for shape."""
    url = (given or os.environ.get(ENV_VAR) or DEFAULT_URL).strip()
    if url.startswith(_SCHEMES):
        return url
    if "://" in url:
        raise CliError(f"unsupported Redis URL scheme in {redact(url)!r}: use redis://, rediss:// or unix://")
    if not _HOST_PORT.match(url):
        raise CliError(f"bad Redis address {redact(url)!r}: use host:port or a redis://, rediss://, unix:// URL")
    return url


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (user names are kept)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None and "password=" not in parts.query:
        return url
    shown = url
    if "@" in parts.netloc:
        cred, host = parts.netloc.rsplit("@", 1)
        user, colon, _ = cred.partition(":")
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
        shown = shown.replace(parts.netloc, netloc, 1)
    return re.sub(r"(password=)[^&#]*", r"\1***", shown)


def secret_of(url: str) -> str | None:
    if "://" not in url:
        return None
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    if parts.username and not parts.password and parts.scheme in ("redis", "rediss"):
        return parts.username  # redis://secret@host: the single field is the password
    return None


@contextlib.asynccontextmanager
async def producer(url: str) -> AsyncIterator[TaskQueue]:
    """A queue with no task slots on the Redis at ``url``: submit, inspect and control only."""
    try:
        from gdw_core.storage.redis import RedisStorage
    except ImportError:
        raise CliError("the Redis backend (gdw_core.storage.redis) is not available", ExitCode.UNREACHABLE) from None
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # a command fails fast and says so, where a worker would retry with backoff
    storage = RedisStorage.from_url(url, retry=Retry(NoBackoff(), 1))
    queue = TaskQueue(worker_count=0, storage=storage)
    try:
        await queue.open_storage()
        yield queue
    finally:
        with contextlib.suppress(Exception):
            await queue.shutdown()
