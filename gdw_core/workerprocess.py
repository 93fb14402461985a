"""The worker process behind ``gdw worker``: import the task modules, register their tasks (the
allowlist), and run a :class:`TaskQueue` on Redis until a signal, a shutdown command, or — with
``burst`` — until its queues are empty.

Signals: the first SIGTERM / SIGINT shuts down gracefully (running tasks get ``shutdown_timeout``
seconds, the rest are handed back as retryable, exactly once); a second one exits at once, which
is safe because leases expire and the recoverer re-queues what this process held (at-least-once).

Production extras: ``metrics_port`` serves /metrics, /healthz and /readyz (gdw_core.endpoint);
``log_format="json"`` writes one JSON object per log line; passwords are redacted from every line.
The URL reaches tasks (that submit more work) without its password in their environment: as
``GDW_REDIS_FILE``, a file only this user can read (see :func:`export_for_tasks`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import Any

from gdw_core import logformat
from gdw_core.hooks import Hooks
from gdw_core.queue import TaskQueue
from gdw_core.registry import TaskRegistry
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from gdw_core.storage.redis.address import secrets_in

log = logging.getLogger("gdw.workerprocess")

EXIT_OK = 0
EXIT_FORCED = 1
EXIT_BAD_MODULE = 2
#: how often a burst worker checks whether its queues are empty
BURST_CHECK = 0.1


URL_ENV = "GDW_REDIS_URL"
FILE_ENV = "GDW_REDIS_FILE"
NAMESPACE_ENV = "GDW_NAMESPACE"


def export_for_tasks(url: str, namespace: str, url_file: str | None = None) -> str | None:
    """Tell tasks (which inherit this process's environment, and pass it to what they spawn)
    where Redis is, without a password in the environment: a URL without secrets goes in
    ``GDW_REDIS_URL``; one with a password goes in a file readable by this user only
    (``url_file`` if the URL came from one, else a private temporary file removed at exit),
    named by ``GDW_REDIS_FILE``. Returns the temporary file created, if any."""
    os.environ[NAMESPACE_ENV] = namespace
    if not secrets_in(url):
        os.environ[URL_ENV] = url
        os.environ.pop(FILE_ENV, None)
        return None
    os.environ.pop(URL_ENV, None)
    if url_file:
        os.environ[FILE_ENV] = url_file
        return None
    fd, path = tempfile.mkstemp(prefix="gdw-redis-", suffix=".url")  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(url + "\n")
    os.environ[FILE_ENV] = path
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def load_registry(modules: Sequence[str]) -> TaskRegistry:
    """Import ``modules`` (the current directory first on sys.path) and register their tasks.
    Raises ImportError naming the module that failed."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    registry = TaskRegistry()
    for name in modules:
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # a module that raises (even SystemExit) at import
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            raise ImportError(f"cannot import task module {name!r}: {detail}") from exc
        specs = registry.register_module(module)
        if not specs:
            log.warning("module %s defines no tasks", name)
    return registry


async def _queues_empty(queue: TaskQueue, names: Sequence[str]) -> bool:
    for name in names:
        counts = await queue.storage.counts(name)
        if counts[TaskStatus.PENDING] or counts[TaskStatus.RUNNING] or counts[TaskStatus.RETRYING]:
            return False
    return True


async def _ready(storage: RedisStorage) -> str | None:
    try:
        await storage.now()  # one cheap read (TIME)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None


def _claimed_of(queue: TaskQueue) -> float:
    worker = queue.worker
    return float(worker.info.claimed) if worker is not None else 0.0


async def _serve(
    registry: TaskRegistry,
    url: str,
    *,
    concurrency: int,
    queues: Sequence[str],
    burst: bool,
    lease: float,
    shutdown_timeout: float,
    namespace: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "0.0.0.0",
    log_handler: logging.Handler | None = None,
    queue_weights: dict[str, int] | None = None,
) -> int:
    storage = RedisStorage.from_url(url, namespace=namespace)
    hooks: list[Hooks] = [logformat.TaskLogContext()]
    metrics: Any = None
    if metrics_port is not None:
        from gdw_core.metrics import WorkerMetrics

        metrics = WorkerMetrics(registry.names(), claimed=lambda: _claimed_of(queue))
        hooks.append(metrics)
    queue = TaskQueue(
        worker_count=concurrency,
        storage=storage,
        queues=queues,
        queue_weights=queue_weights,
        lease=lease,
        buffer_size=concurrency,  # claim ahead: one claim round trip feeds many slots
        registry=registry,
        queue_size=None,
        hooks=hooks,
    )
    endpoint: Any = None
    if metrics is not None:
        from gdw_core.endpoint import Endpoint

        endpoint = Endpoint(
            metrics.registry, ready=lambda: _ready(storage), host=metrics_host, port=int(metrics_port or 0)
        )
        await endpoint.start()  # before Redis is reached: /readyz says why it is not ready
    loop = asyncio.get_running_loop()
    signals = 0
    stopping: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.warning(
                "%s: shutting down gracefully (running tasks get %gs; send it again to exit at once)",
                signal.Signals(signum).name,
                shutdown_timeout,
            )
            stopping.append(loop.create_task(queue.shutdown(shutdown_timeout)))
        else:
            log.warning("second signal: exiting now; leases expire and other workers recover the tasks")
            logging.shutdown()
            os._exit(EXIT_FORCED)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    formatter = log_handler.formatter if log_handler is not None else None
    if isinstance(formatter, logformat.JsonFormatter) and queue.worker is not None:
        formatter.worker = queue.worker.id  # before start: the first tasks' lines name it too
    try:
        await queue.start()
        policy = await storage.eviction_policy()
        if policy is not None and policy != "noeviction":
            log.warning(
                "Redis maxmemory-policy is %r: Redis may evict task data under memory pressure; "
                "set maxmemory-policy noeviction for gdw",
                policy,
            )
        worker = queue.worker
        log.info(
            "worker %s on %s: queues %s, concurrency %d, lease %gs, tasks: %s",
            worker.id if worker else "?",
            storage.address,
            ",".join(queues),
            concurrency,
            lease,
            ", ".join(registry.names()) or "(none)",
        )
        if burst:
            while not queue.closed:
                if await _queues_empty(queue, queues):
                    log.info("burst: queues %s are empty; stopping", ",".join(queues))
                    await queue.shutdown(shutdown_timeout)
                    break
                await asyncio.sleep(BURST_CHECK)
        await queue.wait_closed()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if not queue.closed:
            await queue.shutdown(shutdown_timeout)
        if endpoint is not None:
            await endpoint.stop()
    log.info("worker stopped")
    return EXIT_OK


def run_worker(
    modules: list[str],
    url: str,
    *,
    concurrency: int = 10,
    queues: Sequence[str] = ("default",),
    burst: bool = False,
    lease: float = 30.0,
    shutdown_timeout: float = 30.0,
    log_level: str = "INFO",
    namespace: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "0.0.0.0",
    log_format: str = "text",
    queue_weights: dict[str, int] | None = None,
) -> int:
    """Run a worker process until it is told to stop; returns the process exit code
    (0 stopped cleanly, 1 forced by a second signal, 2 a task module failed to import)."""
    handler = logformat.configure(log_level, log_format, secrets_in(url))
    try:
        registry = load_registry(modules)
    except ImportError as exc:
        log.error("%s", exc)
        print(f"gdw worker: {exc}", file=sys.stderr)
        return EXIT_BAD_MODULE
    if not len(registry):
        message = f"no tasks found in {', '.join(modules)}: define public functions or mark them with @task"
        log.error("%s", message)
        print(f"gdw worker: {message}", file=sys.stderr)
        return EXIT_BAD_MODULE
    return asyncio.run(
        _serve(
            registry,
            url,
            concurrency=concurrency,
            queues=list(queues),
            burst=burst,
            lease=lease,
            shutdown_timeout=shutdown_timeout,
            namespace=namespace,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            log_handler=handler,
            queue_weights=queue_weights,
        )
    )
