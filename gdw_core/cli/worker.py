"""``gdw worker``: run tasks from the modules given, against a shared Redis."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from gdw_core.cli import arguments
from gdw_core.cli.connection import chosen, namespace, resolve
from gdw_core.cli.exitcodes import CliError, ExitCode, usage
from gdw_core.cli.options import Namespace, Redis, RedisFile
from gdw_core.cli.running import fail
from gdw_core.errors import InvalidTask
from gdw_core.flow.weights import parse_queues

_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


def worker(
    modules: Annotated[
        list[str], typer.Argument(help="Modules whose @task functions this worker runs.", show_default=False)
    ],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Task slots.")] = 10,
    queues: Annotated[
        str,
        typer.Option(
            "--queues", "-q", help="Queues to claim from, comma-separated; 'high:6,default:3,low:1' weighs them."
        ),
    ] = "default",
    strict: Annotated[
        bool, typer.Option("--strict", help="With weights: keep strict order (drain the first queue first).")
    ] = False,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queues are empty.")] = False,
    lease: Annotated[str, typer.Option("--lease", help="Lease length (heartbeats renew it).")] = "30s",
    shutdown_timeout: Annotated[
        str, typer.Option("--shutdown-timeout", help="On SIGTERM/SIGINT, time running tasks get to finish.")
    ] = "30s",
    log_level: Annotated[str, typer.Option("--log-level", help="debug | info | warning | error.")] = "info",
    log_format: Annotated[
        str, typer.Option("--log-format", help="text | json (a line: task id, name, queue, attempt, worker).")
    ] = "text",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve /metrics, /healthz and /readyz on this port.",
            show_default=False,
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address the metrics endpoint binds.")
    ] = "0.0.0.0",
    redis: Redis = None,
    redis_file: RedisFile = None,
    namespace_: Namespace = None,
) -> None:
    """Run a worker for the @task functions of MODULE... (nothing else runs).

    SIGTERM or SIGINT (Ctrl-C) shuts it down gracefully; a second one stops it at once.
    Example: gdw worker demo_tasks --redis-file /run/secrets/redis --concurrency 20 --queues default,images
    """
    if redis_file and not redis:
        chosen.redis_file = redis_file
    url, url_file = resolve(redis)
    ns = namespace(namespace_)
    fmt = log_format.strip().lower()
    if fmt not in LOG_FORMATS:
        raise usage(f"--log-format {log_format!r}: use text or json")
    for module in modules:
        if not _MODULE.match(module):
            raise usage(f"bad module name {module!r}: expected a dotted import path such as demo_tasks")
    try:
        queue_names, weights = parse_queues(arguments.split_list(queues))
    except InvalidTask as exc:
        raise usage(f"--queues: {exc}") from None
    if not queue_names:
        raise usage("--queues needs at least one queue name")
    lease_s = arguments.duration(lease, "--lease", positive=True)
    grace = arguments.duration(shutdown_timeout, "--shutdown-timeout")
    level = log_level.strip().lower()
    if level not in LOG_LEVELS:
        raise usage(f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)}")
    assert lease_s is not None and grace is not None
    try:
        from gdw_core.workerprocess import run_worker
    except ImportError:
        raise CliError("worker support (gdw_core.workerprocess) is not available", ExitCode.UNREACHABLE) from None
    from gdw_core.workerprocess import export_for_tasks

    # tasks that submit more work (demo_tasks:fanout) find their Redis here, without a password
    export_for_tasks(url, ns, url_file)
    try:
        code = run_worker(
            modules,
            url,
            concurrency=concurrency,
            queues=queue_names,
            burst=burst,
            lease=lease_s,
            shutdown_timeout=grace,
            log_level=level,
            namespace=ns,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            log_format=fmt,
            queue_weights=None if strict else (weights or None),
        )
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        from gdw_core.cli.running import explain

        message, exit_code = explain(exc, url)
        fail(message, exit_code)
    raise typer.Exit(int(code))
