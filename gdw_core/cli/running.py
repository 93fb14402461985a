"""Running a command's coroutine and turning every expected failure into one line and an exit code."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

import typer

from gdw_core import (
    DuplicateTask,
    GdwError,
    InvalidPayload,
    InvalidSchedule,
    InvalidTask,
    QueueNotFound,
    StorageUnavailable,
    TaskNotFound,
)
from gdw_core.cli.connection import redact, secret_of
from gdw_core.cli.exitcodes import CliError, ExitCode
from gdw_core.cli.output import clean

_AUTH_WORDS = ("WRONGPASS", "NOAUTH", "NOPERM", "ERR AUTH", "invalid username-password", "no permissions")


def quiet_library_logs() -> None:
    """The storage logs reconnect attempts for long-running processes; a command reports its
    outcome itself, in one line, so unconfigured library logging stays silent here."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def fail(message: str, code: ExitCode) -> NoReturn:
    """Print ``error: message`` on stderr (one line) and exit with ``code``."""
    line = " ".join(message.split())  # one line, whatever the message held
    sys.stderr.write(f"gdw: error: {clean(line)}\n")
    sys.stderr.flush()
    raise typer.Exit(int(code))


def warn(message: str) -> None:
    sys.stderr.write(f"gdw: warning: {clean(' '.join(message.split()))}\n")
    sys.stderr.flush()


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        import redis.exceptions as rx
    except ImportError:  # pragma: no cover - redis is a dependency
        return ()
    # RedisError last: anything else the client raises (InvalidResponse, "Protocol error" from a
    # port that is not Redis) is about the connection, never a bug of gdw
    return (rx.ConnectionError, rx.TimeoutError, rx.AuthenticationError, rx.AuthorizationError, rx.RedisError)


def _is_auth(cause: BaseException | None, text: str) -> bool:
    name = type(cause).__name__ if cause is not None else ""
    return any(w in name for w in ("Authentication", "Authorization", "NoPermission")) or any(
        w in text for w in _AUTH_WORDS
    )


def _scrub(text: str, url: str | None) -> str:
    if url:
        secret = secret_of(url)
        if secret:
            text = text.replace(secret, "***")
        text = text.replace(url, redact(url))
    return text


def explain(exc: BaseException, url: str | None) -> tuple[str, ExitCode]:
    """The one-line message and exit code for an exception a command let through."""
    where = f"Redis at {redact(url)}" if url else "Redis"
    text = _scrub(str(exc) or type(exc).__name__, url)
    if isinstance(exc, CliError):
        return _scrub(exc.message, url), exc.code
    if isinstance(exc, (TaskNotFound, QueueNotFound)):
        return text, ExitCode.NOT_FOUND
    if isinstance(exc, DuplicateTask):
        return text, ExitCode.DUPLICATE
    if isinstance(exc, (InvalidSchedule, InvalidTask, InvalidPayload)):
        return text, ExitCode.USAGE
    if isinstance(exc, RecursionError):  # data, never a reason to call it a bug of gdw
        return f"a value is nested too deeply to handle: {text}", ExitCode.USAGE
    if isinstance(exc, StorageUnavailable):  # its message names the address
        if _is_auth(exc.__cause__, text):
            return text.replace("cannot reach", "credentials refused by", 1), ExitCode.UNREACHABLE
        return text if "Redis" in text else f"cannot reach {where}: {text}", ExitCode.UNREACHABLE
    redis_errors = _redis_errors()
    if redis_errors and isinstance(exc, redis_errors):
        import redis.exceptions as rx

        if _is_auth(exc, text):
            return f"{where} refused the credentials or the command: {text}", ExitCode.UNREACHABLE
        if type(exc).__name__ == "ResponseError":
            return f"{where} answered with an error: {text}", ExitCode.UNREACHABLE
        if not isinstance(exc, (rx.ConnectionError, rx.TimeoutError)):
            return f"{where} did not answer like a Redis server: {text}", ExitCode.UNREACHABLE
        return f"cannot reach {where}: {text}", ExitCode.UNREACHABLE
    if isinstance(exc, (ConnectionError, OSError, TimeoutError)):
        return f"cannot reach {where}: {text}", ExitCode.UNREACHABLE
    if isinstance(exc, GdwError):
        return text, ExitCode.USAGE
    if os.environ.get("GDW_DEBUG"):
        raise exc
    return f"internal error {type(exc).__name__}: {text} (set GDW_DEBUG=1 for the traceback)", ExitCode.INTERNAL


def run(coro: Coroutine[Any, Any, int | None], url: str | None = None) -> None:
    """Run a command's coroutine; its int result is the exit code."""
    quiet_library_logs()
    try:
        code = asyncio.run(coro)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:
        message, exit_code = explain(exc, url)
        fail(message, exit_code)
    if code:
        raise typer.Exit(int(code))
