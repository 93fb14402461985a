"""Flow control: named limits (rates and concurrency) that hold work back across every worker.

* :mod:`gdw_core.flow.rate` — ``"100/m"`` and friends, parsed once, with one clear error;
* :mod:`gdw_core.flow.limit` — a limit's definition (rate, burst, concurrency), its name grammar and
  its stored form, and :class:`LimitUse` (a definition with its current use);
* :mod:`gdw_core.flow.gcra` — the rate rule (GCRA), written once for the memory backend and
  mirrored by the Lua prelude;
* :mod:`gdw_core.flow.limiter` — the memory backend's limiter (rates, lease-bound holders);
* :mod:`gdw_core.flow.limits` — the ``queue.limits`` API (set / remove / list).
"""

from gdw_core.flow.limit import LimitSpec, LimitUse, check_limit_name, family_of
from gdw_core.flow.rate import InvalidLimit, InvalidRate, Rate, parse_rate

__all__ = [
    "InvalidLimit",
    "InvalidRate",
    "LimitSpec",
    "LimitUse",
    "Rate",
    "check_limit_name",
    "family_of",
    "parse_rate",
]
