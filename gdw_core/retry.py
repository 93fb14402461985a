"""Retry policy: how many attempts, how long to wait between them, and which errors deserve one."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gdw_core.errors import InvalidSchedule


class RetryStrategy(StrEnum):
    FIXED = "fixed"  # base
    LINEAR = "linear"  # base * n
    EXPONENTIAL = "exponential"  # base * 2^(n-1)
    IMMEDIATE = "immediate"  # 0


ShouldRetry = Callable[[BaseException], bool]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt (so ``max_retries + 1`` attempts in all).

    ``delay(n)`` is the wait before retry ``n`` (n = 1 for the first retry), capped at ``max_delay``.
    ``jitter`` (0..1) spreads each delay uniformly within ±jitter of itself, still capped.
    ``should_retry`` sees the exception of a failed attempt; False fails the task at once.
    The predicate stays in the process that defined it: it is not stored with the task.
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    strategy: RetryStrategy = RetryStrategy.FIXED
    jitter: float = 0.0
    should_retry: ShouldRetry | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidSchedule(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise InvalidSchedule(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_delay < 0:
            raise InvalidSchedule(f"base_delay must be >= 0, got {self.base_delay}")
        if self.max_delay < self.base_delay:
            raise InvalidSchedule(f"max_delay ({self.max_delay}) must be >= base_delay ({self.base_delay})")
        if not 0 <= self.jitter <= 1:
            raise InvalidSchedule(f"jitter must be within 0..1, got {self.jitter}")
        object.__setattr__(self, "strategy", RetryStrategy(self.strategy))
        if self.should_retry is not None and not callable(self.should_retry):
            raise InvalidSchedule("should_retry must be a callable taking the exception")

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def base(self, retry_number: int) -> float:
        """The un-jittered delay before retry ``retry_number`` (1-based), capped at max_delay."""
        if retry_number < 1:
            raise ValueError(f"retry_number is 1-based, got {retry_number}")
        match self.strategy:
            case RetryStrategy.FIXED:
                raw = self.base_delay
            case RetryStrategy.LINEAR:
                raw = self.base_delay * retry_number
            case RetryStrategy.EXPONENTIAL:
                # cap the exponent so huge retry numbers don't overflow a float
                raw = self.base_delay * 2.0 ** min(retry_number - 1, 1023)
            case RetryStrategy.IMMEDIATE:
                raw = 0.0
        return min(raw, self.max_delay)

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """The delay before retry ``retry_number`` with jitter applied (if any)."""
        value = self.base(retry_number)
        if self.jitter and value > 0:
            spread = value * self.jitter
            value += (rng or random).uniform(-spread, spread)
        return max(0.0, min(value, self.max_delay))

    def plan(self, after_retry: int = 0) -> list[float]:
        """The remaining un-jittered delays after ``after_retry`` retries have happened."""
        return [self.base(n) for n in range(after_retry + 1, self.max_retries + 1)]

    def allows(self, exc: BaseException) -> bool:
        return True if self.should_retry is None else bool(self.should_retry(exc))

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_retries": self.max_retries,
            "base_delay": self.base_delay,
            "max_delay": self.max_delay,
            "strategy": str(self.strategy),
            "jitter": self.jitter,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], should_retry: ShouldRetry | None = None) -> RetryPolicy:
        try:
            return cls(
                max_retries=int(data["max_retries"]),
                base_delay=float(data["base_delay"]),
                max_delay=float(data["max_delay"]),
                strategy=RetryStrategy(data.get("strategy", "fixed")),
                jitter=float(data.get("jitter", 0.0)),
                should_retry=should_retry,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSchedule(f"bad retry policy {dict(data)!r}: {exc}") from exc
