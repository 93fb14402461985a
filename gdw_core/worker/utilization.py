"""Busy slot-seconds over wall time between two heartbeats."""

from __future__ import annotations

import time


class Utilization:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.busy = 0
        self._since = time.monotonic()
        self._integral = 0.0
        self._last = self._since

    def begin(self, now: float) -> None:
        """A slot became busy at ``now`` (time.monotonic())."""
        self._integral += self.busy * (now - self._since)
        self._since = now
        self.busy += 1

    def end(self, now: float) -> None:
        """A slot became idle at ``now`` (time.monotonic())."""
        self._integral += self.busy * (now - self._since)
        self._since = now
        self.busy -= 1

    def change(self, delta: int, now: float | None = None) -> None:
        """``now``: time.monotonic() when the caller just read it."""
        if now is None:
            now = time.monotonic()
        self._integral += self.busy * (now - self._since)
        self._since = now
        self.busy += delta

    def sample(self) -> float:
        """The share of slot time spent busy since the previous sample (0..1)."""
        self.change(0)
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        integral, self._integral = self._integral, 0.0
        return 0.0 if elapsed <= 0 else min(1.0, integral / (elapsed * self.concurrency))
