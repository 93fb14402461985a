"""The flow-control tests run on every storage backend (the contract suite's fixtures); the
process tests use the Redis suite's fixtures, the command tests the CLI suite's."""

from tests.cli.conftest import _no_ambient_redis, redis_url, runner
from tests.contract.conftest import manual_clock, storage
from tests.redis.conftest import redis_storage, task_dir

__all__ = ["_no_ambient_redis", "manual_clock", "redis_storage", "redis_url", "runner", "storage", "task_dir"]
