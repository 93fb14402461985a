"""Fake TCP endpoints for the tests of what gdw says about a server that is not Redis: one that
hangs up without a word (as PostgreSQL does to a Redis client, or a TLS-only port to plain text),
or any other handler."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """``handler`` on a free loopback port (yielded) until the block ends."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.close()


def hang_up_server() -> contextlib.AbstractAsyncContextManager[int]:
    """A server that reads what it is sent and closes the connection unanswered."""
    return serving(_hang_up)
