"""A task run in a child process (``@task(isolation="process")``): killed on timeout or cancel,
so its side effect never happens. Its own module, so the other scenarios' workers do not need the
isolation feature to import their tasks."""

from __future__ import annotations

import time
from pathlib import Path

from gdw_core import task
from gdw_core.retry import RetryPolicy


@task(isolation="process", timeout=0.5, retry=RetryPolicy(max_retries=0))  # type: ignore[call-overload]
def times_out(path: str, seconds: float) -> str:
    time.sleep(seconds)
    Path(path).write_text("it happened")
    return "wrote"


@task(isolation="process", retry=RetryPolicy(max_retries=0))  # type: ignore[call-overload]
def cancellable(path: str, seconds: float, started: str) -> str:
    Path(started).write_text("started")
    time.sleep(seconds)
    Path(path).write_text("it happened")
    return "wrote"
