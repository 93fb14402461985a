"""A named limit: a rate (with a burst) and/or a concurrency, shared by every worker.

Names: a task names the limits it takes (``limits=["stripe", "customer:42"]``). A name is looked up
as written first, then by its *family*, the part before its last ``:`` — so one definition
``customer`` (``concurrency=2``) gives each ``customer:<key>`` its own 2 slots and its own rate.
A name with no definition (nor a family one) is unlimited until it is defined: limits are created,
changed and removed at runtime, and a task must never be stuck on a limit someone removed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gdw_core.errors import InvalidTask
from gdw_core.flow.rate import InvalidLimit, Rate, parse_rate

#: a limit name: letters, digits and ``_ . : -``, at most 150 chars (task names fit: ``module:func``)
LIMIT_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,149}$")
#: how many limits one task may take
MAX_LIMITS_PER_TASK = 8


def check_limit_name(name: object) -> str:
    if not isinstance(name, str) or not LIMIT_NAME_RE.fullmatch(name):
        shown = repr(name[:60]) if isinstance(name, str) else type(name).__name__
        raise InvalidLimit(
            f"limit name {shown} is not valid: use 1-150 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter, digit or '_'"
        )
    return name


def check_limit_names(names: Iterable[object]) -> tuple[str, ...]:
    """A task's limit names, checked, duplicates dropped, order kept."""
    if isinstance(names, str):
        raise InvalidLimit(f"limits takes a list of names, got the string {names[:60]!r}")
    out = tuple(dict.fromkeys(check_limit_name(n) for n in names))
    if len(out) > MAX_LIMITS_PER_TASK:
        raise InvalidLimit(f"a task takes at most {MAX_LIMITS_PER_TASK} limits, got {len(out)}")
    return out


def family_of(name: str) -> str | None:
    """``customer:42`` -> ``customer``; a name without ``:`` has no family."""
    head, sep, _ = name.rpartition(":")
    return head if sep and head else None


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidLimit(f"{what} must be a whole number, got {value!r}")
    if value < 1:
        raise InvalidLimit(f"{what} must be at least 1, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """``rate``: at most ``rate.count`` starts per ``rate.per`` seconds, smoothed (GCRA), with up
    to ``burst`` starting at once after a quiet spell. ``concurrency``: at most that many running
    (claimed or started) at once; a slot is bound to its task's lease, so a killed worker's slot
    comes back when the lease expires."""

    name: str
    rate: Rate | None = None
    burst: int = 1
    concurrency: int | None = None

    def __post_init__(self) -> None:
        check_limit_name(self.name)
        _count(self.burst, "burst")
        if self.concurrency is not None:
            _count(self.concurrency, "concurrency")
        if self.rate is None and self.concurrency is None:
            raise InvalidLimit(f"limit {self.name!r} needs a rate, a concurrency or both")

    @classmethod
    def build(
        cls, name: str, rate: str | Rate | None = None, burst: int | None = None, concurrency: int | None = None
    ) -> LimitSpec:
        """From user input (``rate="100/m"``); InvalidLimit / InvalidRate saying what is wrong."""
        if burst is not None and rate is None:
            raise InvalidLimit(f"limit {name!r}: a burst needs a rate (--rate)")
        return cls(name, None if rate is None else parse_rate(rate), 1 if burst is None else burst, concurrency)

    @property
    def tolerance(self) -> float:
        """GCRA's tolerance: how far ahead of now the theoretical arrival time may run."""
        return 0.0 if self.rate is None else self.rate.interval * (self.burst - 1)

    def describe(self) -> str:
        parts = []
        if self.rate is not None:
            parts.append(f"rate {self.rate}" + (f" (burst {self.burst})" if self.burst > 1 else ""))
        if self.concurrency is not None:
            parts.append(f"concurrency {self.concurrency}")
        return ", ".join(parts)

    # -- the stored form (a Redis hash; the claim script reads the same fields) --------------
    def to_fields(self) -> dict[str, str]:
        return {
            "n": str(self.rate.count) if self.rate else "0",
            "per": repr(float(self.rate.per)) if self.rate else "0",
            "b": str(self.burst),
            "c": str(self.concurrency or 0),
        }

    @classmethod
    def from_fields(cls, name: str, fields: Mapping[str, str]) -> LimitSpec:
        """The stored definition; InvalidLimit when it was written by hand and cannot be used."""
        try:
            n, per = int(fields.get("n") or 0), float(fields.get("per") or 0)
            burst, conc = int(fields.get("b") or 1), int(fields.get("c") or 0)
            if n < 0 or conc < 0 or not math.isfinite(per) or per < 0:
                raise ValueError("negative or infinite value")
            rate = Rate(n, per) if n else None
            return cls(name, rate, burst, conc or None)
        except (ValueError, TypeError, InvalidTask) as exc:
            raise InvalidLimit(f"limit {name!r} is malformed in storage: {exc}") from exc


@dataclass(frozen=True, slots=True)
class LimitUse:
    """A definition and how much of it is in use right now (``gdw limit ls``, the dashboard)."""

    spec: LimitSpec
    #: tasks holding a concurrency slot (leases not expired)
    holding: int = 0
    #: seconds until the rate lets the next task start (0: now)
    next_start_in: float = 0.0
    #: tasks throttled waiting for one of its concurrency slots
    waiting: int = 0
