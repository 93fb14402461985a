"""The Redis storage backend (single server, TLS, unix socket, or Redis Cluster by URL)."""

from gdw_core.storage.redis.address import RedisAddress, parse_url
from gdw_core.storage.redis.connection import fail_fast
from gdw_core.storage.redis.storage import RedisStorage

__all__ = ["RedisAddress", "RedisStorage", "fail_fast", "parse_url"]
