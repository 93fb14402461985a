"""Fixtures for the dashboard's tests: a real embedded TaskQueue (memory storage) running the demo
tasks, and the app around it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import demo_tasks
from gdw_core import TaskQueue
from gdw_tui.app import GdwApp

SIZE = (160, 45)


async def until(pilot: Any, condition: Callable[[], bool], steps: int = 400) -> None:
    """Let the app run until ``condition`` holds (a bounded number of short pauses)."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.025)
    raise AssertionError("the condition never held")


@pytest.fixture
async def queue() -> AsyncIterator[TaskQueue]:
    q = TaskQueue(worker_count=4, queue_size=None, tasks=[demo_tasks], worker_id="worker-a")
    await q.start()
    try:
        yield q
    finally:
        await q.shutdown(timeout=0)


@pytest.fixture
async def idle() -> AsyncIterator[TaskQueue]:
    """A queue with no workers: the states stay where a test puts them."""
    q = TaskQueue(worker_count=0, queue_size=None, tasks=[demo_tasks], worker_id="worker-a")
    await q.open_storage()
    try:
        yield q
    finally:
        await q.shutdown(timeout=0)


@pytest.fixture
def make_app(queue: TaskQueue) -> Callable[..., GdwApp]:
    def build(**kwargs: Any) -> GdwApp:
        return GdwApp(queue, **kwargs)

    return build


def shown(widget: Any, width: int = 200) -> str:
    """The plain text a Static widget currently shows."""
    from rich.console import Console

    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()
