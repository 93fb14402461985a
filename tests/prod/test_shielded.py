"""A redis-py call whose caller was cancelled finishes in the background (gdw_core.storage.redis
.shielded); when it then fails, nobody is left to see it, and asyncio must not log it as a
"Task exception was never retrieved" traceback (seen in worker logs after a Sentinel failover)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from gdw_core.storage.redis.shielded import Shielded


class Client:
    async def blpop(self) -> None:
        await asyncio.sleep(0.05)
        raise ConnectionError("the master went away")


async def test_a_failure_nobody_awaits_any_more_is_not_logged() -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    client = Shielded(Client())
    caller = asyncio.ensure_future(client.blpop())
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0.1)  # the background call fails now
    gc.collect()
    await asyncio.sleep(0)
    assert seen == []
    with pytest.raises(ConnectionError):  # a caller that waits still gets the error
        await client.blpop()
