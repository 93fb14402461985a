"""Uniqueness over time: ``options(unique_for=60)`` and ``options(debounce=5, unique_key=...)``.

A task's *unique key* is a digest of the caller's ``unique_key`` or, by default, of the task name
and its arguments (canonical JSON). The enqueue step (one Lua script on Redis) decides atomically:

* ``unique_for``: while the first task of a key exists and its window is open, a second submit
  creates nothing and returns the first task's id;
* ``debounce``: the task is scheduled ``debounce`` seconds out; a submit of the same key while it
  has not started replaces its arguments and pushes it back, so a burst runs once, with the latest
  arguments, ``debounce`` seconds after the last submit.

Keys are per queue (on Redis Cluster a queue's keys share one slot; the rule is the same on one
Redis, so both behave alike).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import timedelta
from typing import Any

from gdw_core.errors import InvalidSchedule, InvalidTask


def window(value: float | timedelta | None, what: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise InvalidSchedule(f"{what} must be seconds or a timedelta, got {value!r}")
    if seconds <= 0:
        raise InvalidSchedule(f"{what} must be > 0 seconds, got {seconds:g}")
    return float(seconds)


def check_unique(unique_for: float | None, debounce: float | None, unique_key: object) -> None:
    if unique_for is not None and debounce is not None:
        raise InvalidTask("unique_for and debounce cannot be combined: choose one")
    if unique_key is not None:
        if not isinstance(unique_key, str) or not unique_key or len(unique_key) > 1000:
            raise InvalidTask(f"unique_key must be a non-empty string of at most 1000 characters, got {unique_key!r}")
        if unique_for is None and debounce is None:
            raise InvalidTask("unique_key needs unique_for= or debounce=")


def digest(name: str, args: list[Any], kwargs: dict[str, Any], unique_key: str | None) -> str:
    """The stored key: the caller's key, or the task name and arguments, as a fixed-size digest."""
    if unique_key is not None:
        source = "key\0" + unique_key
    else:
        source = "call\0" + name + "\0" + json.dumps([args, kwargs], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:40]
