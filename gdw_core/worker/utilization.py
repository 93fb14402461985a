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
        self._previous = 0.0

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

    def sample(self, at_least: float = 0.0) -> float:
        """The share of slot time spent busy since the previous sample (0..1). Within
        ``at_least`` seconds of the previous sample, that sample again, its window left open: a
        heartbeat sent early (to correct a busy count) does not publish the share of a few
        milliseconds, and the next regular one covers the whole time since."""
        now = time.monotonic()
        if now - self._last < at_least:
            return self._previous
        self.change(0, now)
        elapsed, self._last = now - self._last, now
        integral, self._integral = self._integral, 0.0
        self._previous = 0.0 if elapsed <= 0 else min(1.0, integral / (elapsed * self.concurrency))
        return self._previous
