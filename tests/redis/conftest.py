"""Fixtures of the Redis tests. The session servers come from tests/redis/plugin.py (imported here
too, so these tests run even where the plugin is not registered globally)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gdw_core.storage.redis import RedisStorage
from tests.redis.plugin import redis_cluster, redis_server
from tests.support.redis_server import RedisServer

__all__ = ["redis_cluster", "redis_server"]

ROOT = Path(__file__).resolve().parents[2]

TASKS = '''
"""Tasks run by the worker processes of the Redis tests."""
import asyncio
import os


async def quick(n):
    return n * 2


async def sleepy(seconds, tag=None):
    await asyncio.sleep(seconds)
    return os.getpid()


def sync_add(a, b):
    return a + b


async def boom():
    raise ValueError("boom")


def counted(n):
    """Leaves a line in runs.log (the worker's directory) each time it runs."""
    with open("runs.log", "a") as f:
        f.write(f"{n}\\n")
    return n


def counted_boom(n):
    """As counted, then fails."""
    counted(n)
    raise ValueError(f"boom {n}")
'''


@pytest.fixture
async def redis_storage(redis_server: RedisServer) -> AsyncIterator[RedisStorage]:
    redis_server.cli("flushall")
    storage = RedisStorage.from_url(redis_server.url)
    await storage.open()
    yield storage
    await storage.close()


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    (tmp_path / "proc_tasks.py").write_text(TASKS)
    return tmp_path


def spawn_worker(url: str, cwd: Path, modules: list[str] | None = None, **options: object) -> subprocess.Popen[bytes]:
    """A real worker process (``run_worker``) in ``cwd``; its log goes to cwd/worker-<n>.log."""
    modules = modules or ["proc_tasks"]
    code = (
        "import sys; from gdw_core.workerprocess import run_worker; "
        f"sys.exit(run_worker({modules!r}, {url!r}, **{options!r}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    n = len(list(cwd.glob("worker-*.log")))
    log = (cwd / f"worker-{n}.log").open("wb")
    return subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
