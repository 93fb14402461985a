"""Waiting for a condition in tests: "it finished" guards, never a performance threshold."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(check: Callable[[], Any], what: str, patience: float, every: float = 0.05) -> Any:
    """``check()``'s first truthy value, polled every ``every`` s; AssertionError after ``patience`` s."""
    deadline = time.monotonic() + patience
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)
