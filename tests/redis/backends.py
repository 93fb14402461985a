"""The Redis backends of the storage contract suite (tests/contract): a single redis-server and a
3-primary Redis Cluster, both started by the test session on loopback. Each factory yields a
fresh, opened RedisStorage on an empty database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gdw_core.storage.protocol import Storage
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisCluster, RedisServer


@contextlib.asynccontextmanager
async def redis_backend(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    server: RedisServer = request.getfixturevalue("redis_server")
    server.cli("flushall")
    storage = RedisStorage.from_url(server.url)
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


@contextlib.asynccontextmanager
async def redis_cluster_backend(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    cluster.flushall()
    storage = RedisStorage.from_url(cluster.url)
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


REDIS_BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Any]] = {
    "redis": redis_backend,
    "redis-cluster": redis_cluster_backend,
}
