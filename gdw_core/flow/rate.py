"""A rate: ``count`` starts per ``per`` seconds, written ``"100/m"``, ``"20/s"``, ``"5/10s"``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gdw_core.errors import InvalidTask

#: unit -> seconds; the spelled-out forms are accepted too ("20/second", "100/minute")
UNITS: dict[str, float] = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}

_RATE_RE = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{1,6}(?:\.\d{1,6})?)?\s*([A-Za-z]+)\s*$")


class InvalidLimit(InvalidTask):
    """A limit definition or a limit name that cannot be used."""


class InvalidRate(InvalidLimit):
    """A rate that cannot be read ("ten per second", "0/s", "5/fortnight")."""


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    per: float  # seconds

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise InvalidRate(f"a rate allows at least 1 start per period, got {self.count!r}")
        if not (isinstance(self.per, (int, float)) and math.isfinite(self.per) and self.per > 0):
            raise InvalidRate(f"a rate's period must be a positive number of seconds, got {self.per!r}")

    @property
    def interval(self) -> float:
        """Seconds between two starts at the steady rate (GCRA's emission interval)."""
        return self.per / self.count

    def __str__(self) -> str:
        for unit in ("s", "m", "h", "d"):
            if self.per == UNITS[unit]:
                return f"{self.count}/{unit}"
        return f"{self.count}/{self.per:g}s"


def parse_rate(text: object) -> Rate:
    """``"100/m"`` -> Rate(100, 60.0). Anything else raises :class:`InvalidRate` saying why."""
    if isinstance(text, Rate):
        return text
    if not isinstance(text, str):
        raise InvalidRate(f"a rate is written like '100/m' or '20/s', got {type(text).__name__}")
    m = _RATE_RE.match(text)
    hint = "write it like '100/m', '20/s' or '5/10s' (units: s, m, h, d)"
    if m is None:
        raise InvalidRate(f"rate {text[:40]!r} cannot be read: {hint}")
    count, mult, unit = int(m.group(1)), float(m.group(2) or 1), m.group(3).lower()
    if unit not in UNITS:
        raise InvalidRate(f"rate {text[:40]!r} has an unknown unit {unit!r}: {hint}")
    if count < 1:
        raise InvalidRate(f"rate {text[:40]!r} allows nothing: a rate needs at least 1 start per period")
    if mult <= 0:
        raise InvalidRate(f"rate {text[:40]!r} has an empty period: {hint}")
    return Rate(count, mult * UNITS[unit])
