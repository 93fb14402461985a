"""The Redis tests use the session servers of tests/redis/plugin.py (also registered globally)."""

from tests.redis.plugin import redis_cluster, redis_server

__all__ = ["redis_cluster", "redis_server"]
