"""The flow-control tests run on every storage backend (the contract suite's fixtures); the
process tests use the Redis suite's fixtures."""

from tests.contract.conftest import manual_clock, storage
from tests.redis.conftest import redis_storage

__all__ = ["manual_clock", "redis_storage", "storage"]
