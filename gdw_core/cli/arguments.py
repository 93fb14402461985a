"""Turning what was typed into task arguments, names, durations and times — or one clear error.

* a positional ARG is a JSON literal when it parses as one (``3``, ``true``, ``"x"``, ``[1,2]``,
  ``null``), else the plain string (``photo.jpg``);
* ``--kw key=value`` is the string ``value``; ``--kw key:=<json>`` is JSON (``--kw size:=800``);
* ``--args '<json array>'`` and ``--kwargs '<json object>'`` give them all at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gdw_core import InvalidSchedule, RetryPolicy, RetryStrategy
from gdw_core.cli.exitcodes import CliError, usage
from gdw_core.duration import parse_duration, parse_time
from gdw_core.recurring import check_cron
from gdw_core.registry import NAME_RE

_KEY_OK = str.isidentifier


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise usage(f"JSON nested too deeply ({len(text):,} characters): nothing was submitted") from None


def json_value(text: str, where: str) -> Any:
    """Strict JSON, or a usage error that says where it broke."""
    try:
        return _loads(text)
    except json.JSONDecodeError as exc:
        start = max(0, exc.pos - 25)
        snippet = ("…" if start else "") + text[start : exc.pos + 25] + ("…" if exc.pos + 25 < len(text) else "")
        raise usage(f"bad JSON in {where}: {exc.msg} at column {exc.colno} (char {exc.pos}) of {snippet!r}") from None
    except ValueError as exc:
        raise usage(f"bad JSON in {where}: {exc}") from None


def literal(text: str) -> Any:
    """A positional argument: its JSON value when it is JSON, else the string itself."""
    try:
        return _loads(text)
    except ValueError:
        return text


def task_name(text: str) -> str:
    name = text.strip()
    if not NAME_RE.match(name):
        raise usage(f"bad task name {text!r}: expected 'module:function', e.g. demo_tasks:resize")
    return name


def call_arguments(
    positional: Sequence[str], kw: Sequence[str], args_json: str | None, kwargs_json: str | None
) -> tuple[list[Any], dict[str, Any]]:
    """The task's args and kwargs from everything given on the command line."""
    if positional and args_json is not None:
        raise usage("give positional arguments or --args, not both")
    if args_json is not None:
        args = json_value(args_json, "--args")
        if not isinstance(args, list):
            raise usage(f"--args must be a JSON array like '[1, \"x\"]', got {type(args).__name__}")
    else:
        args = [literal(a) for a in positional]
    kwargs: dict[str, Any] = {}
    if kwargs_json is not None:
        value = json_value(kwargs_json, "--kwargs")
        if not isinstance(value, dict):
            raise usage(f"--kwargs must be a JSON object like '{{\"width\": 800}}', got {type(value).__name__}")
        kwargs.update(value)
    for item in kw:
        key, value = keyword(item)
        if key in kwargs:
            raise usage(f"keyword argument {key!r} is given twice")
        kwargs[key] = value
    for key in kwargs:
        if not _KEY_OK(key):
            raise usage(f"keyword argument name {key!r} is not a Python identifier")
    return args, kwargs


def keyword(item: str) -> tuple[str, Any]:
    """``key=value`` (a string) or ``key:=<json>``."""
    key, eq, value = item.partition("=")
    if not eq:
        raise usage(f"bad --kw {item!r}: use key=value (a string) or key:=<json>")
    if key.endswith(":"):
        key = key[:-1]
        parsed = json_value(value, f"--kw {key}:=")
    else:
        parsed = value
    if not _KEY_OK(key):
        raise usage(f"bad --kw {item!r}: {key!r} is not a valid argument name")
    return key, parsed


def duration(text: str | None, option: str, *, positive: bool = False) -> float | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except InvalidSchedule as exc:
        raise usage(f"{option}: {exc}") from None
    if positive and value <= 0:
        raise usage(f"{option}: must be more than zero, got {text!r}")
    return value


def future_time(text: str | None, option: str = "--at") -> datetime | None:
    if text is None:
        return None
    try:
        value = parse_time(text)
    except InvalidSchedule as exc:
        raise usage(f"{option}: {exc}") from None
    if value.timestamp() <= time.time():
        raise usage(f"{option} {text!r} is in the past: give a future time, or drop {option} to run now")
    return value


def cron(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return check_cron(text)
    except InvalidSchedule as exc:
        raise usage(f"--cron: {exc}") from None


def retry_policy(
    retries: int | None, backoff: str | None, base_delay: float | None, max_delay: float | None
) -> RetryPolicy | None:
    """A retry policy when any retry option was given (unset fields keep RetryPolicy's defaults)."""
    if retries is None and backoff is None and base_delay is None and max_delay is None:
        return None
    default = RetryPolicy()
    if retries is not None and retries < 0:
        raise usage(f"--retries must be >= 0, got {retries}")
    try:
        strategy = RetryStrategy(backoff) if backoff is not None else default.strategy
    except ValueError:
        raise usage(f"--backoff {backoff!r}: use one of {', '.join(s.value for s in RetryStrategy)}") from None
    base = default.base_delay if base_delay is None else base_delay
    cap = max(default.max_delay, base) if max_delay is None else max_delay
    if cap < base:
        raise usage(f"--max-delay ({cap:g}s) must be at least --base-delay ({base:g}s)")
    try:
        return RetryPolicy(
            max_retries=default.max_retries if retries is None else retries,
            base_delay=base,
            max_delay=cap,
            strategy=strategy,
        )
    except InvalidSchedule as exc:
        raise CliError(str(exc)) from None


def split_list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]
