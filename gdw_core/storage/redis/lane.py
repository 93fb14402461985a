"""The fast lane: one multiplexed RESP connection (asyncio protocol + the hiredis parser) for the
hot path — the Lua script calls of claim, ack, heartbeat and submit. Requests from every coroutine
share it and are pipelined on the wire (replies come back in order), so a script call costs one
write and one read, without a connection pool or per-command retry machinery.

Used for plain ``redis://`` and ``unix://`` servers; TLS and Cluster use redis-py for everything.
Connection loss: pending calls fail with ConnectionError (StorageUnavailable to the caller, which
retries); the next call reconnects, with backoff, and the log says so. Blocking commands (BLPOP)
never go through here."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError

log = logging.getLogger("gdw.redis")


#: bytes read per recv: one buffer per connection, reused (see _Protocol)
_READ_BUFFER = 256 * 1024


class _Protocol(asyncio.BufferedProtocol):
    """Replies are read into one buffer allocated with the connection (``recv_into``), not into a
    new bytes object per read: asyncio's plain protocols allocate ``max_size`` (256 KiB) for every
    recv, which glibc serves with mmap / mremap / munmap — three system calls and fresh pages per
    reply, ~20 us of a ~30 us round trip on a virtual machine."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=ResponseError, encoding="utf-8", errors="replace")
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self.buffer = memoryview(bytearray(_READ_BUFFER))
        self.loop = asyncio.get_running_loop()  # made by loop.create_connection, inside the loop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.reader.feed(self.buffer, 0, nbytes)  # type: ignore[arg-type]  # any buffer (the stub says bytes)
        waiters = self.waiters
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("connection closed by Redis")
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError(f"lost the connection to Redis: {self.lost}"))
                fut.exception()  # whoever awaits it still gets the error; unawaited ones stay quiet


class FunctionsRefused(NoScriptError):
    """FCALL is not available (Redis < 7, or an ACL without +fcall): use EVALSHA instead."""


def as_error(reply: ResponseError) -> ResponseError:
    """NOSCRIPT, and the function library missing (server restarted / flushed), become
    NoScriptError (load, then send again); FCALL refused becomes FunctionsRefused."""
    text = str(reply)
    if text.startswith("NOSCRIPT") or text.startswith("ERR Function not found"):
        return NoScriptError(text)
    lowered = text.lower()
    if "'fcall'" in lowered and (text.startswith("NOPERM") or "unknown command" in lowered):
        return FunctionsRefused(text)
    return reply


class FastLane:
    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        self.options = parse_url(url)
        self.connect_timeout = connect_timeout
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._failures = 0

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        o = self.options
        if "path" in o:
            coro = loop.create_unix_connection(_Protocol, o["path"])
        else:
            coro = loop.create_connection(_Protocol, o.get("host", "localhost"), o.get("port", 6379))
        _, proto = await asyncio.wait_for(coro, self.connect_timeout)
        sock = proto.transport.get_extra_info("socket") if proto.transport is not None else None
        if sock is not None and "path" not in o:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        handshake: list[tuple[Any, ...]] = []
        if o.get("password"):
            user = o.get("username")
            handshake.append(("AUTH", user, o["password"]) if user else ("AUTH", o["password"]))
        if o.get("db"):
            handshake.append(("SELECT", int(o["db"])))
        for fut in self._send(proto, handshake) if handshake else []:
            reply = await fut
            if isinstance(reply, ResponseError):
                if proto.transport is not None:
                    proto.transport.close()
                raise AuthenticationError(str(reply))
        return proto

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and proto.lost is None:
            return proto
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            proto = self._proto
            if proto is not None and proto.lost is None:
                return proto
            if proto is not None:
                log.warning("Redis fast-lane connection lost (%s); reconnecting", proto.lost)
            if self._failures:
                await asyncio.sleep(min(2.0, 0.02 * 2**self._failures))
            try:
                self._proto = await self._open()
            except (OSError, TimeoutError) as exc:
                self._failures += 1
                raise ConnectionError(f"cannot connect to Redis: {exc}") from exc
            if self._failures:
                log.warning("Redis fast-lane connection re-established")
            self._failures = 0
            return self._proto

    @staticmethod
    def _send(proto: _Protocol, commands: list[tuple[Any, ...]]) -> list[asyncio.Future[Any]]:
        loop = proto.loop
        futs = [loop.create_future() for _ in commands]
        assert proto.transport is not None
        if len(commands) == 1:
            proto.transport.write(hiredis.pack_command(commands[0]))
        else:
            proto.transport.write(b"".join([hiredis.pack_command(c) for c in commands]))
        proto.waiters.extend(futs)
        return futs

    def request(self, command: tuple[Any, ...]) -> asyncio.Future[Any] | None:
        """Write one command now on the open connection and return the future of its raw reply;
        None when the connection is not open (then :meth:`send` connects first). The hot path
        of one call: no coroutine, no list."""
        proto = self._proto
        if proto is None or proto.lost is not None or proto.transport is None:
            return None
        fut = proto.loop.create_future()
        proto.transport.write(hiredis.pack_command(command))
        proto.waiters.append(fut)
        return fut

    async def execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write; their replies (a ResponseError for an error reply)."""
        proto = self._proto
        if proto is None or proto.lost is not None:
            proto = await self._connection()
        futs = self._send(proto, commands)
        out = []
        for fut in futs:
            reply = await fut
            out.append(as_error(reply) if isinstance(reply, ResponseError) else reply)
        return out

    async def send(self, commands: list[tuple[Any, ...]]) -> list[asyncio.Future[Any]]:
        """Send ``commands`` in one write and return the futures of their raw replies."""
        proto = self._proto
        if proto is None or proto.lost is not None:
            proto = await self._connection()
        return self._send(proto, commands)

    def abort(self) -> None:
        """Drop the connection now (commands still queued in Redis for it are discarded)."""
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.abort()

    async def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
