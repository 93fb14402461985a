"""The HTTP endpoint a worker (``--metrics-port``) or ``gdw metrics`` serves, on its own event loop:

- ``/metrics``  Prometheus text from a prometheus-client registry;
- ``/healthz``  200 while the process is alive and its loop answers (the loop serves the reply);
- ``/readyz``   200 when storage answers a cheap read within a timeout, else 503 with the reason.

Deliberately tiny (HTTP/1.0, GET only, one request per connection): Prometheus and Kubernetes
probes need nothing more, and it runs in the worker's loop without a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("gdw.endpoint")

#: an async check: returns None when ready, else the reason it is not
ReadyCheck = Callable[[], Awaitable[str | None]]
#: run before each /metrics render (e.g. read queue depths from storage)
Refresh = Callable[[], Awaitable[None]]

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error", 503: "Unavailable"}


class Endpoint:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        ready: ReadyCheck | None = None,
        refresh: Refresh | None = None,
        host: str = "0.0.0.0",
        port: int = 9100,
        timeout: float = 5.0,
    ) -> None:
        self.registry = registry
        self.ready = ready
        self.refresh = refresh
        self.host = host
        self.port = port
        self.timeout = timeout
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0] if self._server.sockets else None
        if sock is not None:
            self.port = int(sock.getsockname()[1])
        log.info("metrics on http://%s:%d/metrics (health /healthz, readiness /readyz)", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    async def _answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET only\n"
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            reason = None
            if self.ready is not None:
                try:
                    reason = await asyncio.wait_for(self.ready(), self.timeout)
                except TimeoutError:
                    reason = f"storage did not answer within {self.timeout:g}s"
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"
            if reason:
                return 503, "text/plain", f"not ready: {' '.join(reason.split())}\n".encode()
            return 200, "text/plain", b"ready\n"
        if path == "/metrics":
            if self.refresh is not None:
                try:
                    await asyncio.wait_for(self.refresh(), self.timeout)
                except Exception as exc:  # the last values are served; the failure is counted by the caller
                    log.warning("metrics refresh failed: %s", exc)
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        return 404, "text/plain", b"try /metrics, /healthz or /readyz\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), self.timeout)
            parts = line.decode("latin-1").split()
            while len(parts) >= 2:  # skip the headers (a blank or garbled request line has none)
                header = await asyncio.wait_for(reader.readline(), self.timeout)
                if header in (b"\r\n", b"\n", b""):
                    break
            if len(parts) < 2:
                status, ctype, body = 405, "text/plain", b"bad request\n"
            else:
                status, ctype, body = await self._answer(parts[0].upper(), parts[1])
            head = (
                f"HTTP/1.0 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if parts[:1] == ["HEAD"] else body))
            await writer.drain()
        except Exception as exc:
            log.debug("metrics request failed: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
