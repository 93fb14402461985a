"""Fixtures of the production tests (real processes on free loopback ports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.prod.deployment import TASKS
from tests.redis.plugin import redis_server

__all__ = ["redis_server"]


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    (tmp_path / "prod_tasks.py").write_text(TASKS)
    return tmp_path
