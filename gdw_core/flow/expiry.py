"""Expiry: ``options(expires=...)`` — a task not started by then is never run.

``expires`` is seconds or a timedelta (from the submit, on the storage's clock) or an aware
datetime. It becomes an absolute ``expires_at`` on the record; the claim that finds it past
ends the task ``cancelled`` with the event detail ``expired`` and an error entry saying so.
Bad input (not positive, naive datetime, already past, before the task is even due) is refused
at the call: nothing is enqueued.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from gdw_core.errors import InvalidSchedule

Expires = float | int | timedelta | datetime


def check_expires(value: object) -> None:
    """The form of ``expires`` (its time against now is checked at submit)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidSchedule("expires needs an aware datetime (give it a tzinfo, e.g. UTC)")
        return
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise InvalidSchedule(f"expires must be seconds, a timedelta or an aware datetime, got {value!r}")
    if seconds <= 0:
        raise InvalidSchedule(f"expires must be in the future, got {seconds:g}s")


def expires_at(value: Expires, now: float, due: float) -> float:
    """The absolute expiry of a task submitted at ``now`` (storage clock) and due at ``due``."""
    check_expires(value)
    if isinstance(value, datetime):
        at = value.timestamp()
        if at <= now:
            raise InvalidSchedule(f"expires {value.isoformat()} is in the past; nothing was enqueued")
    else:
        at = now + (value.total_seconds() if isinstance(value, timedelta) else float(value))
    if at <= due:
        raise InvalidSchedule("the task would expire before it is due; nothing was enqueued")
    return at
