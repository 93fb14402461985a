"""The rate rule, GCRA (generic cell rate algorithm), for the memory backend. The Lua prelude's
``gcra_check`` is the same arithmetic on Redis ``TIME``.

State is one number per limit, the theoretical arrival time ``tat``. A start at ``now`` is allowed
when ``tat - now <= tolerance`` (tolerance = interval * (burst - 1)); it moves ``tat`` to
``max(tat, now) + interval``. So after a quiet spell ``burst`` tasks may start at once, and then
one per interval: in any window of ``w`` seconds at most ``w / interval + burst`` start.
"""

from __future__ import annotations


def wait_for(tat: float, now: float, tolerance: float) -> float:
    """Seconds until a start is allowed (0: now)."""
    return max(0.0, tat - tolerance - now)


def after_start(tat: float, now: float, interval: float) -> float:
    return max(tat, now) + interval
