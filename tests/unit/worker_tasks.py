"""Tasks for the worker tests that a child process imports by module:qualname."""

from __future__ import annotations

import time
from pathlib import Path

from gdw_core.errors import SkipRetry
from gdw_core.registry import task


@task(isolation="process", timeout=0.5)
def sleep_then_write(path: str, seconds: float) -> str:
    time.sleep(seconds)
    Path(path).write_text("done")
    return "wrote"


@task(isolation="process")
def slow_write(path: str, seconds: float) -> str:
    time.sleep(seconds)
    Path(path).write_text("done")
    return "wrote"


@task(isolation="process")
def add(a: int, b: int) -> dict[str, int]:
    return {"sum": a + b}


@task(isolation="process", retry=None)
def explode(message: str) -> None:
    raise SkipRetry(message)


@task(isolation="process")
def raise_key_error() -> None:
    raise KeyError("missing")


@task(timeout=0.2)
def thread_sleeper(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"
