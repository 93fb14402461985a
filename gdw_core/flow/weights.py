"""Weighted queues: ``--queues high:6,default:3,low:1`` shares a worker's claims 6:3:1 while all
three have work (smooth weighted round robin), and stays work-conserving: a share an empty queue
cannot use goes to the others. Without weights (or with ``--strict``) the order is strict: the
first queue is drained before the second is looked at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gdw_core.errors import InvalidTask
from gdw_core.limits import check_queue_name

_WEIGHT_RE = re.compile(r"^(.*):(\d{1,6})$")


def parse_queues(items: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """``["high:6", "default:3", "low"]`` -> (names, weights); a queue without ``:<n>`` weighs 1
    (and when no queue has a weight, the result has no weights: strict order)."""
    names: list[str] = []
    weights: dict[str, int] = {}
    for item in items:
        m = _WEIGHT_RE.match(item.strip())
        name, weight = (m.group(1), int(m.group(2))) if m else (item.strip(), None)
        check_queue_name(name)
        if name in names:
            raise InvalidTask(f"queue {name!r} is listed twice")
        if weight is not None:
            if weight < 1:
                raise InvalidTask(f"queue {name!r}: a weight is a whole number >= 1, got {weight}")
            weights[name] = weight
        names.append(name)
    if weights:
        weights = {n: weights.get(n, 1) for n in names}
    return names, weights


def check_weights(queues: Sequence[str], weights: Mapping[str, int]) -> dict[str, int]:
    out = {}
    for name in queues:
        w = weights.get(name, 1)
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise InvalidTask(f"queue {name!r}: a weight is a whole number >= 1, got {w!r}")
        out[name] = w
    unknown = set(weights) - set(queues)
    if unknown:
        raise InvalidTask(f"weights for queues the worker does not claim from: {', '.join(sorted(unknown))}")
    return out


class WeightedOrder:
    """Smooth weighted round robin (as nginx balances upstreams): over any run of picks, each
    queue gets its weight's share, spread evenly rather than in blocks."""

    def __init__(self, weights: Mapping[str, int]) -> None:
        self.weights = dict(weights)
        self._current = dict.fromkeys(self.weights, 0)
        self._total = sum(self.weights.values())

    def pick(self, among: Sequence[str] | None = None) -> str:
        names = [n for n in (among or self.weights) if n in self.weights]
        for n in names:
            self._current[n] += self.weights[n]
        best = max(names, key=lambda n: self._current[n])
        self._current[best] -= sum(self.weights[n] for n in names)
        return best

    def shares(self, slots: int) -> dict[str, int]:
        """How many of ``slots`` claims each queue gets this round."""
        out = dict.fromkeys(self.weights, 0)
        for _ in range(slots):
            out[self.pick()] += 1
        return out
