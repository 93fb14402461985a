"""Turning an exception from an attempt into a recorded error and a retry decision."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from gdw_core.errors import Retry, SkipRetry
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.retry import RetryPolicy

MAX_TRACEBACK = 20_000


def describe(exc: BaseException, attempt: int, worker: str | None, at: float = 0.0) -> AttemptError:
    tb = "".join(traceback.format_exception(exc))
    if len(tb) > MAX_TRACEBACK:
        tb = tb[: MAX_TRACEBACK // 2] + "\n... (traceback truncated) ...\n" + tb[-MAX_TRACEBACK // 2 :]
    return AttemptError(attempt, type(exc).__name__, str(exc)[:4000], tb, at, worker)


@dataclass(frozen=True, slots=True)
class Decision:
    retry_delay: float | None  # None = fail for good


def decide(exc: BaseException, record: TaskRecord, policy: RetryPolicy) -> Decision:
    """Retry with which delay, or fail for good, after attempt ``record.attempts`` raised ``exc``."""
    if isinstance(exc, SkipRetry):
        return Decision(None)
    if record.attempts >= policy.max_attempts:
        return Decision(None)
    if isinstance(exc, Retry):
        return Decision(exc.delay if exc.delay is not None else policy.delay(record.attempts))
    if not policy.allows(exc):
        return Decision(None)
    return Decision(policy.delay(record.attempts))
