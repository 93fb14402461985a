"""Durations and times as people type them: ``500ms``, ``30s``, ``5m``, ``2h``, ``1d``, ``90``
(seconds), ``1m30s``; times in ISO 8601 with a zone."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from gdw_core.errors import InvalidSchedule

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | float | int | timedelta) -> float:
    """Seconds from a duration; raises :class:`InvalidSchedule` with the accepted forms."""
    if isinstance(text, timedelta):
        value = text.total_seconds()
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    elif isinstance(text, str):
        s = text.strip().lower()
        try:
            value = float(s)
        except ValueError:
            pos, value = 0, 0.0
            for m in _PART.finditer(s):
                if m.start() != pos:
                    break
                value += float(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos != len(s) or not s:
                raise InvalidSchedule(
                    f"bad duration {text!r}: use e.g. 500ms, 30s, 5m, 2h, 1d, 1m30s or plain seconds"
                ) from None
    else:
        raise InvalidSchedule(f"bad duration {text!r}: expected seconds, a timedelta or text like 30s")
    if not math.isfinite(value) or value < 0:
        raise InvalidSchedule(f"bad duration {text!r}: must be a finite number >= 0")
    return value


def parse_time(text: str) -> datetime:
    """An aware datetime from ISO 8601 text; a time without a zone is refused (it would be ambiguous)."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(s)
    except ValueError:
        raise InvalidSchedule(f"bad time {text!r}: use ISO 8601 with a zone, e.g. 2026-12-01T09:00:00Z") from None
    if value.tzinfo is None:
        raise InvalidSchedule(f"time {text!r} has no zone: add Z or an offset such as +01:00")
    return value


def format_duration(seconds: float) -> str:
    """``754.2`` -> ``"12:34"``; over an hour ``"1:02:03"``; under a minute ``"00:12"``."""
    total = max(0, math.ceil(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
