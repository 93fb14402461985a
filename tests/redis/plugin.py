"""Session fixtures starting real redis-server processes (single server and a 3-primary Cluster)
for the Redis tests and the contract suite. Registered from tests/conftest.py with
``pytest_plugins = ["tests.redis.plugin"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisCluster, RedisMissing, RedisServer


def _start_or_fail(thing: RedisServer | RedisCluster) -> None:
    try:
        thing.start()
    except RedisMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    _start_or_fail(server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster()
    _start_or_fail(cluster)
    yield cluster
    cluster.stop()
