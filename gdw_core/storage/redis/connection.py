"""The connection to Redis: one client (single server or Cluster) with retry and backoff, and the
translation of redis-py errors into gdw's (StorageUnavailable with the address, out-of-memory as
a clear GdwError). Reconnects are logged once per outage."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, OutOfMemoryError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gdw_core.errors import GdwError, StorageUnavailable
from gdw_core.storage.redis.address import RedisAddress

log = logging.getLogger("gdw.redis")

P = ParamSpec("P")
T = TypeVar("T")


class _Retry(Retry):
    """redis-py's retry with backoff, minus pointless retries of refused credentials, and saying
    in the log that the connection is being re-established."""

    async def call_with_retry(
        self, do: Any, fail: Any, is_retryable: Any = None, with_failure_count: bool = False
    ) -> Any:
        def retryable(error: Exception) -> bool:
            if isinstance(error, AuthenticationError | AuthorizationError):
                return False
            if is_retryable is not None and not is_retryable(error):
                return False
            log.warning("Redis connection problem (%s); reconnecting with backoff", error)
            return True

        return await super().call_with_retry(do, fail, retryable, with_failure_count)


def make_client(address: RedisAddress, options: dict[str, Any]) -> Any:
    """A redis-py asyncio client for ``address``; ``options`` override the defaults."""
    kwargs: dict[str, Any] = {
        "decode_responses": True,
        "encoding_errors": "replace",
        "socket_timeout": 15.0,
        "socket_connect_timeout": 5.0,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry": _Retry(ExponentialBackoff(cap=2.0, base=0.02), retries=6),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, ConnectionError, OSError],
    }
    kwargs.update(options)
    if address.cluster:
        kwargs.pop("health_check_interval", None)
        return RedisCluster.from_url(address.url, **kwargs)
    kwargs.setdefault("max_connections", 256)
    if address.url.startswith("unix:"):  # redis-py's Unix socket connection takes no TCP keepalive
        kwargs.pop("socket_keepalive", None)
    return Redis.from_url(address.url, **kwargs)


class _Guarded(Protocol):
    address: str
    _down: bool


def guarded(
    fn: Callable[Concatenate[Any, P], Awaitable[T]],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """Wrap a storage method: connection trouble -> StorageUnavailable (naming the address, logged
    once per outage), Redis OOM -> GdwError saying what to do."""

    @functools.wraps(fn)
    async def wrapper(self: _Guarded, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            out = await fn(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, ConnectionRefusedError, OSError) as exc:
            if isinstance(exc, StorageUnavailable):
                raise
            if not self._down:
                log.warning("Redis at %s is unreachable (%s); retrying with backoff", self.address, exc)
            self._down = True
            raise StorageUnavailable(f"cannot reach Redis at {self.address}: {exc}") from exc
        except ResponseError as exc:
            if isinstance(exc, OutOfMemoryError) or "OOM" in str(exc) or "maxmemory" in str(exc):
                raise GdwError(
                    f"Redis at {self.address} is out of memory (maxmemory reached), nothing was written: "
                    f"raise maxmemory, lower the retention, or drain the queues ({exc})"
                ) from exc
            raise
        if self._down:
            self._down = False
            log.warning("Redis at %s is reachable again", self.address)
        return out

    return wrapper
