"""The memory backend's limiter: the same rules as the claim script's (``_prelude.lua``,
``flow`` section), on the storage's clock.

* a rate is GCRA (:mod:`gdw_core.flow.gcra`); a task over it is throttled until its turn: each
  throttled task is given the next free turn (``reserved``), so a backlog comes back one task per
  interval instead of all at once;
* a concurrency slot is held by a task id and is alive while that task's lease is (the storage's
  lease table is the truth): a killed worker's slot frees itself when the lease expires. A task
  over it is throttled until the soonest holder's lease deadline, and woken earlier when a holder
  leaves (one waiter per freed slot).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gdw_core.flow import gcra
from gdw_core.flow.limit import LimitSpec, LimitUse, family_of


@dataclass(frozen=True, slots=True)
class Throttle:
    """Why a task may not start now, and when to try it again."""

    until: float
    reason: str


def rate_reason(name: str, spec: LimitSpec) -> str:
    return f"limit {name}: rate {spec.rate}"


def concurrency_reason(name: str, spec: LimitSpec) -> str:
    return f"limit {name}: concurrency {spec.concurrency} in use"


class MemoryLimiter:
    def __init__(self, leases: Mapping[str, tuple[str, int, float]]) -> None:
        self._leases = leases  # task id -> (worker, token, deadline): the storage's own table
        self._specs: dict[str, LimitSpec] = {}
        self._tat: dict[str, float] = {}
        self._reserved: dict[str, float] = {}
        self._holders: dict[str, dict[str, None]] = {}
        self._held: dict[str, tuple[str, ...]] = {}
        self._waiters: dict[str, dict[str, None]] = {}

    @property
    def holding(self) -> bool:
        return bool(self._held)

    # -- definitions ---------------------------------------------------------------------------
    def set(self, spec: LimitSpec) -> None:
        self._specs[spec.name] = spec

    def remove(self, name: str) -> bool:
        return self._specs.pop(name, None) is not None

    def spec_for(self, name: str) -> LimitSpec | None:
        """The definition of ``name``: its own, else its family's (``customer:42`` -> ``customer``)."""
        spec = self._specs.get(name)
        if spec is None:
            family = family_of(name)
            spec = None if family is None else self._specs.get(family)
        return spec

    def uses(self, now: float) -> list[LimitUse]:
        out = []
        for name in sorted(self._specs):
            spec = self._specs[name]
            tat = self._tat.get(name, now)
            wait = gcra.wait_for(tat, now, spec.tolerance) if spec.rate else 0.0
            out.append(LimitUse(spec, len(self._live(name, now)), wait, len(self._waiters.get(name, ()))))
        return out

    # -- claiming ------------------------------------------------------------------------------
    def _live(self, name: str, now: float) -> list[float]:
        """The lease deadlines of the holders of ``name`` whose lease is still alive."""
        holders = self._holders.get(name)
        if not holders:
            return []
        live = []
        for task_id in list(holders):
            lease = self._leases.get(task_id)
            if lease is None or lease[2] <= now:
                del holders[task_id]  # its lease is gone or expired: the slot is free again
            else:
                live.append(lease[2])
        return live

    def admit(self, task_id: str, names: Sequence[str], now: float, ahead: int = 0) -> Throttle | None:
        """None: the task may start (its rates are spent, its slots taken); else the throttle.
        ``ahead``: how many tasks of its queue are throttled already (a turn is never handed out
        further than one interval per such task: turns of tasks cancelled meanwhile are not kept
        free; the GCRA check is what holds the rate)."""
        if len(self._tat) + len(self._reserved) > 10_000:  # per-key state of quiet keys does not pile up
            self._forget_quiet(now)
        defined = [(n, s) for n in names if (s := self.spec_for(n)) is not None]
        worst: Throttle | None = None
        blocked: list[str] = []
        for name, spec in defined:
            until = None
            if spec.rate is not None:
                wait = gcra.wait_for(self._tat.get(name, now), now, spec.tolerance)
                if wait > 0:
                    cap = now + wait + spec.rate.interval * ahead
                    turn = max(now + wait, min(self._reserved.get(name, 0.0) + spec.rate.interval, cap))
                    self._reserved[name] = turn
                    until = Throttle(turn, rate_reason(name, spec))
            if until is None and spec.concurrency is not None:
                live = self._live(name, now)
                if len(live) >= spec.concurrency:
                    blocked.append(name)
                    until = Throttle(min(live), concurrency_reason(name, spec))
            if until is not None and (worst is None or until.until > worst.until):
                worst = until
        if worst is not None:
            for name in blocked:
                self._waiters.setdefault(name, {})[task_id] = None
            return worst
        held = []
        for name, spec in defined:
            if spec.rate is not None:
                self._tat[name] = gcra.after_start(self._tat.get(name, now), now, spec.rate.interval)
            if spec.concurrency is not None:
                self._holders.setdefault(name, {})[task_id] = None
                held.append(name)
                waiters = self._waiters.get(name)
                if waiters is not None:  # no longer waiting (if it was)
                    waiters.pop(task_id, None)
                    if not waiters:
                        del self._waiters[name]
        if held:
            self._held[task_id] = tuple(held)
        return None

    def _forget_quiet(self, now: float) -> None:
        """A rate's state in the past is the same as none (Redis lets those keys expire)."""
        self._tat = {k: v for k, v in self._tat.items() if v > now}
        self._reserved = {k: v for k, v in self._reserved.items() if v > now}

    def release(self, task_id: str, waiting: Callable[[str], bool]) -> list[str]:
        """The task left its leased state: its slots are free. Returns the throttled tasks to wake
        now (one per freed slot; ``waiting(id)`` says whether a waiter still waits)."""
        woken: list[str] = []
        for name in self._held.pop(task_id, ()):
            holders = self._holders.get(name)
            if holders is not None:
                holders.pop(task_id, None)
                if not holders:
                    del self._holders[name]
            waiters = self._waiters.get(name)
            while waiters:
                candidate = next(iter(waiters))
                del waiters[candidate]
                if waiting(candidate):
                    woken.append(candidate)
                    break
            if waiters is not None and not waiters:
                del self._waiters[name]
        return woken
