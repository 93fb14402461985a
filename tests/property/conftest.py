"""The Redis server of the property tests (session-scoped, started on a free loopback port)."""

from tests.redis.plugin import redis_server

__all__ = ["redis_server"]
