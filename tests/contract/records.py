"""Building task records for the contract tests."""

from __future__ import annotations

import uuid
from typing import Any

from gdw_core import TaskRecord

#: the worker id the contract tests claim as
W = "worker-a"


def rec(**kw: Any) -> TaskRecord:
    """A new task record (a fresh id, a demo task name) with ``kw`` as its fields."""
    kw.setdefault("id", uuid.uuid4().hex)
    kw.setdefault("name", "demo_tasks:fast")
    return TaskRecord(**kw)
