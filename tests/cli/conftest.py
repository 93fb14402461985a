"""Fixtures of the CLI tests: a CliRunner, and for commands that need one a real redis-server
(tests/support/redis_server.py: a free loopback port of its own, never 6379, never a fake)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from tests.support.redis_server import RedisServer, free_port


@contextlib.contextmanager
def own_redis(*extra: str, password: str | None = None) -> Iterator[RedisServer]:
    """A redis-server of the test's own (for odd configurations: passwords, ACLs, sockets)."""
    server = RedisServer(*extra, password=password).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis (tests/redis/plugin.py), emptied for this test."""
    redis_server.cli("flushall")
    return redis_server.url


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _no_ambient_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests say which Redis they use; none falls back to a developer's GDW_REDIS_URL or 6379."""
    monkeypatch.delenv("GDW_REDIS_URL", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


__all__ = ["free_port", "own_redis"]
