"""What a task sees of itself when it asks for a context (``@task(context=True)`` -> ``ctx``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TaskContext:
    task_id: str
    name: str
    attempt: int  # 1-based
    max_attempts: int
    worker_id: str
    queue: str
    #: what the worker's startup hooks put in their context dict (a database pool...)
    resources: dict[str, Any] = field(default_factory=dict)
    _report: Callable[[Any], None] = field(repr=False, default=lambda _v: None)

    def progress(self, value: Any) -> None:
        """Report progress (any JSON value, e.g. ``0.4`` or ``{"done": 4, "of": 10}``).
        Safe to call from async and sync (threaded) tasks; it never blocks."""
        self._report(value)

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts
