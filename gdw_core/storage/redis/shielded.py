"""A shield between asyncio cancellation and redis-py.

redis-py's asyncio client can be left waiting forever on a connection whose command was
cancelled half-way (seen with redis-py 8.1: the next command on that client never returns, so a
TaskQueue shutting down its scheduler hung). Every redis-py call made by the storage therefore
runs shielded: a cancelled caller gets its CancelledError at once, while the command itself
finishes in the background and leaves the connection clean."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any


class Shielded:
    def __init__(self, client: Any) -> None:
        self.inner = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "pipeline":
            return lambda *a, **k: _ShieldedPipeline(attr(*a, **k))
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return _shield(result) if inspect.isawaitable(result) else result

        return call


def _retrieved(inner: asyncio.Future[Any]) -> None:
    if not inner.cancelled():
        inner.exception()  # the caller still gets it; one whose caller left is not logged as "never retrieved"


def _shield(awaitable: Any) -> asyncio.Future[Any]:
    inner = asyncio.ensure_future(awaitable)
    inner.add_done_callback(_retrieved)
    return asyncio.shield(inner)


class _ShieldedPipeline:
    def __init__(self, pipe: Any) -> None:
        self.inner = pipe

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "execute":
            return lambda *a, **k: _shield(attr(*a, **k))
        return attr
