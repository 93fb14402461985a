"""Fixtures of the adversarial suite (issue 10): a private redis-server per scenario, a producer,
raw Redis access for injecting corrupt data, and a spawner of real ``gdw worker`` processes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gdw_core import TaskQueue
from gdw_core.storage.redis import RedisStorage
from tests.adversarial.scene import Scene
from tests.faults.harness import FaultRedis


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/adversarial/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.adversarial)
            item.add_marker(pytest.mark.redis)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    server = FaultRedis().start()
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    storage = RedisStorage.from_url(server.url)
    await storage.open()
    producer = TaskQueue(worker_count=0, storage=storage)
    raw = aioredis.Redis(host="127.0.0.1", port=server.port, decode_responses=False)
    s = Scene(server, storage, producer, raw, log_dir, tmp_path)
    try:
        yield s
    finally:
        s.cleanup()
        with contextlib.suppress(Exception):
            await raw.aclose()
        with contextlib.suppress(Exception):
            await storage.close()
        server.stop()
