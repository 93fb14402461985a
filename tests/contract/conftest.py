"""The storage contract suite runs against every backend listed in BACKENDS.

A backend is a name and an async context manager factory yielding a fresh, empty, opened Storage.
The Redis backend adds itself here (see tests/redis/backends.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gdw_core import ManualClock, MemoryStorage
from gdw_core.storage.protocol import Storage
from tests.redis.backends import REDIS_BACKENDS


@contextlib.asynccontextmanager
async def memory_backend(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    storage = MemoryStorage()
    await storage.open()
    yield storage
    await storage.close()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Any]] = {"memory": memory_backend}
BACKENDS.update(REDIS_BACKENDS)


@pytest.fixture(params=sorted(BACKENDS))
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    async with BACKENDS[request.param](request) as s:
        yield s


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()
