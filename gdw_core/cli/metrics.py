"""``gdw metrics``: the deployment's queue depths and workers as Prometheus metrics, served from
one place (not by every worker, so N workers do not multiply them). Each scrape of /metrics reads
storage in a fixed number of round trips, whatever the number of tasks."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from gdw_core.cli.connection import namespace, redact, resolve_url
from gdw_core.cli.options import Redis
from gdw_core.cli.running import run


def metrics(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port of /metrics, /healthz, /readyz.")] = 9109,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "0.0.0.0",
    redis: Redis = None,
) -> None:
    """Serve queue depths per state, paused queues, oldest pending age and workers on /metrics
    until SIGTERM or SIGINT. Example: gdw metrics --port 9109 --redis-file /run/secrets/redis"""
    url = resolve_url(redis)
    run(_serve(url, namespace(), host, port), url)


async def _serve(url: str, ns: str, host: str, port: int) -> int:
    from prometheus_client import CollectorRegistry

    from gdw_core.endpoint import Endpoint
    from gdw_core.metrics import DeploymentCollector, read_deployment
    from gdw_core.storage.redis import RedisStorage

    storage = RedisStorage.from_url(url, namespace=ns)
    collector = DeploymentCollector()
    registry = CollectorRegistry()
    registry.register(collector)

    opened: list[bool] = []

    async def reach() -> None:  # opened lazily: started while Redis is down, /readyz says why
        if not opened:
            await storage.open()
            opened.append(True)

    async def refresh() -> None:
        await reach()
        collector.snapshot = await read_deployment(storage)

    async def ready() -> str | None:
        try:
            await reach()
            await storage.now()
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return None

    endpoint = Endpoint(registry, ready=ready, refresh=refresh, host=host, port=port)
    await endpoint.start()
    # an operator (or a supervisor's log) sees where it listens; --port 0 says which port it got
    typer.echo(
        f"gdw metrics: serving http://{host}:{endpoint.port}/metrics (/healthz, /readyz) for {redact(url)};"
        " SIGTERM or ctrl+c stops",
        err=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await endpoint.stop()
        if opened:
            await storage.close()
    return 0
