"""The connection to Redis: one client (single server, Cluster, or the master a Sentinel names) with
retry and backoff, and the translation of redis-py errors into gdw's (StorageUnavailable with the
address — unreachable, failing over, cluster down, not a Redis server at all — and out-of-memory
as a clear GdwError). Reconnects are logged once per outage.

Sentinel failover (:mod:`gdw_core.storage.redis.sentinel`): connections follow the sentinels'
announcement of a switch, and one that meets READONLY (its server was demoted) is dropped; the next
one asks the sentinels for the new master. Callers see StorageUnavailable meanwhile and retry, as
for any outage."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from hiredis import ProtocolError as HiredisProtocolError
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterError,
    InvalidResponse,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gdw_core.errors import GdwError, StorageUnavailable
from gdw_core.storage.redis.address import RedisAddress
from gdw_core.storage.redis.sentinel import sentinel_client

log = logging.getLogger("gdw.redis")

P = ParamSpec("P")
T = TypeVar("T")


#: at most one WARNING of a reconnect per this many seconds per client (the further tries at DEBUG)
RECONNECT_SAID_EVERY = 30.0


class _Retry(Retry):
    """redis-py's retry with backoff, minus pointless retries of refused credentials, and saying
    in the log that the connection is being re-established: at WARNING once per
    ``RECONNECT_SAID_EVERY`` seconds, every other try at DEBUG. One instance serves all of a
    client's connections and commands (and a command's retry wraps its connect's), so saying every
    try put 55 lines in the log for one 20 s outage."""

    _said_at: float | None = None

    async def call_with_retry(
        self, do: Any, fail: Any, is_retryable: Any = None, with_failure_count: bool = False
    ) -> Any:
        def retryable(error: Exception) -> bool:
            if isinstance(error, AuthenticationError | AuthorizationError) or tls_refused(error):
                return False
            if is_retryable is not None and not is_retryable(error):
                return False
            now = time.monotonic()
            level = logging.DEBUG
            if self._said_at is None or now - self._said_at >= RECONNECT_SAID_EVERY:
                level, self._said_at = logging.WARNING, now
            log.log(level, "Redis connection problem (%s); reconnecting with backoff", error)
            return True

        return await super().call_with_retry(do, fail, retryable, with_failure_count)


#: TLS failures that another try cannot fix (a certificate refused either way, TLS to a plain port)
_TLS_REFUSALS = ("CERTIFICATE", "UNKNOWN_CA", "WRONG_VERSION_NUMBER", "HANDSHAKE_FAILURE", "NO_PROTOCOLS")


def tls_refused(error: BaseException) -> bool:
    """A TLS handshake that failed for a reason of configuration, not of the network."""
    text = str(error)
    return "[SSL" in text and any(word in text for word in _TLS_REFUSALS)


#: TLS options naming files: checked up front so a missing one is named in the error
_TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def _check_tls_files(url_options: dict[str, Any], options: dict[str, Any]) -> None:
    for name in _TLS_FILES:
        path = options.get(name, url_options.get(name))
        if isinstance(path, str) and path and not os.path.isfile(path):
            raise GdwError(f"TLS option {name}: file {path!r} does not exist or is not a file")


def fail_fast() -> dict[str, Any]:
    """Client options for a tool a person watches (the CLI, the dashboard): one quick retry, then
    the error, instead of a worker's reconnecting with backoff, which riding out a restart needs
    but which kept a server that hangs up unanswered (not Redis, or wanting TLS) retrying for 20 s
    before anything was said. ``RedisStorage.from_url(url, **fail_fast())``."""
    return {"retry": Retry(NoBackoff(), 1)}


def make_client(address: RedisAddress, options: dict[str, Any]) -> Any:
    """A redis-py asyncio client for ``address``; ``options`` override the defaults."""
    if address.url.startswith("rediss"):
        _check_tls_files(dict(parse_url(address.url)), options)
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
    if address.sentinel is not None:
        return sentinel_client(address, kwargs)
    if address.cluster:
        kwargs.pop("health_check_interval", None)
        if len(address.seeds) > 1:  # the URL's host is the first seed; the others are startup nodes too
            kwargs["startup_nodes"] = [ClusterNode(host, port) for host, port in address.seeds[1:]]
        return RedisCluster.from_url(address.url, **kwargs)
    kwargs.setdefault("max_connections", 256)
    if address.url.startswith("unix:"):  # redis-py's Unix socket connection takes no TCP keepalive
        kwargs.pop("socket_keepalive", None)
    return Redis.from_url(address.url, **kwargs)


class _Guarded(Protocol):
    address: str
    _down: bool


#: reply errors that speak of the server's state (a failover, memory, loading, a busy script,
#: permissions, a moved slot), not of one queue's keys
_SERVER_STATES = ("READONLY", "OOM", "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOPERM", "NOAUTH",
                  "MOVED", "ASK", "NOSCRIPT", "NOREPLICAS")  # fmt: skip


def about_the_server(exc: ResponseError) -> bool:
    """True for a reply error about the server (every queue would see it), False for one that a
    queue's own keys caused (WRONGTYPE, a script's error on garbage it read)."""
    text = str(exc)
    return (
        isinstance(exc, (ReadOnlyError, OutOfMemoryError, TryAgainError))
        or text.startswith(_SERVER_STATES)
        or "maxmemory" in text
    )


def _closed_hint(exc: BaseException) -> str:
    """What a connection closed or reset without a reply can mean: a server that is not Redis
    (PostgreSQL closes on the first bytes it cannot parse) or a TLS-only Redis spoken to in plain
    text (it resets) end it that way too, not only a Redis going down."""
    text = str(exc)
    if "closed by server" not in text and "reset by peer" not in text:
        return ""
    return (
        " (the server ended the connection without an answer: a Redis going down does that, and so"
        " does a server that is not Redis, or a Redis that wants TLS: rediss://)"
    )


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
            raise StorageUnavailable(f"cannot reach Redis at {self.address}: {exc}{_closed_hint(exc)}") from exc
        except (InvalidResponse, HiredisProtocolError) as exc:
            self._down = True
            raise StorageUnavailable(
                f"the server at {self.address} is not a Redis server (it answered something else: {exc})"
            ) from exc
        except (ClusterError, RedisClusterException, TryAgainError) as exc:
            if not self._down:
                log.warning("Redis Cluster at %s is not serving (%s); retrying", self.address, exc)
            self._down = True
            raise StorageUnavailable(f"Redis Cluster at {self.address} is not serving: {exc}") from exc
        except ResponseError as exc:
            if isinstance(exc, ReadOnlyError) or str(exc).startswith("READONLY"):
                if not self._down:
                    log.warning("Redis at %s is a read-only replica now (failover?); retrying", self.address)
                self._down = True
                raise StorageUnavailable(
                    f"Redis at {self.address} is a read-only replica (failed over? use redis+sentinel://): {exc}"
                ) from exc
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
