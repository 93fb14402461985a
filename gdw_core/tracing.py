"""Tracing with OpenTelemetry (the optional extra ``gdw[otel]``): a submit runs in a producer span
whose W3C ``traceparent`` is stored with each task it enqueues, and every attempt a worker runs is
a consumer span, child of it, current while the task body runs (its own spans nest under it).

Off by default, and then nothing here imports opentelemetry and nothing is added to a submit or a
worker. Turn it on with ``GDW_TRACING=1`` in the environment (read when gdw_core is imported; a
worker process, ``gdw submit``...) or :func:`enable` in code, before the ``TaskQueue`` is built.
gdw only uses the API: the process's tracer provider (the SDK, an exporter) is the application's
to configure, for example with ``opentelemetry-instrument``.

Span attributes: ``gdw.task.id``, ``gdw.task.name``, ``gdw.queue``, ``gdw.attempt``, ``gdw.worker``
and, when the attempt ends, ``gdw.outcome`` (completed, retrying, failed, cancelled, released,
lost); an attempt that raised records the error as an ``exception`` event and an error status."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gdw_core.errors import GdwError
from gdw_core.hooks import Hooks, Outcome
from gdw_core.record import TaskRecord

log = logging.getLogger("gdw.tracing")

ENV = "GDW_TRACING"
INSTRUMENTATION = "gdw"
_ERROR_OUTCOMES = frozenset({"retrying", "failed"})

#: True once :func:`enable` succeeded; read by the submit path, so "off" costs one global lookup
active = False
_api: Any = None  # the opentelemetry modules, once enabled


class _Api:
    """The few opentelemetry names gdw uses, imported once by :func:`enable`."""

    def __init__(self, provider: Any = None) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.context = context
        self.trace = trace
        self.kind = SpanKind
        self.status = Status
        self.code = StatusCode
        self.propagator = TraceContextTextMapPropagator()
        # the global provider's tracer is a proxy: it follows a provider the application sets later
        self.tracer = trace.get_tracer(INSTRUMENTATION, tracer_provider=provider)


def enable(tracer_provider: Any = None) -> None:
    """Turn tracing on for this process, with the global tracer provider or ``tracer_provider``.
    Raises GdwError when opentelemetry-api is missing."""
    global active, _api
    if _api is None or tracer_provider is not None:
        try:
            _api = _Api(tracer_provider)
        except ImportError as exc:
            raise GdwError(f"tracing needs opentelemetry-api: pip install 'gdw[otel]' ({exc})") from None
    active = True


def disable() -> None:
    """Turn tracing off again (new submits store no context; queues built later add no hook)."""
    global active
    active = False


def wanted(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _from_environment() -> None:
    if wanted():
        try:
            enable()
        except GdwError as exc:
            log.warning("%s is set but tracing stays off: %s", ENV, exc)


# -- the producer side ----------------------------------------------------------------------------
async def traced_put(records: Sequence[TaskRecord], put: Callable[[], Awaitable[list[str]]]) -> list[str]:
    """``put()`` (the enqueue) inside a producer span whose context each record carries."""
    api = _api
    first = records[0] if records else None
    attributes: dict[str, Any] = {"messaging.system": "gdw", "messaging.batch.message_count": len(records)}
    if first is not None:
        attributes.update({"gdw.task.name": first.name, "gdw.queue": str(first.queue)})
        if len(records) == 1:
            attributes["gdw.task.id"] = first.id
    name = f"gdw submit {first.name}" if first is not None else "gdw submit"
    with api.tracer.start_as_current_span(name, kind=api.kind.PRODUCER, attributes=attributes):
        carrier: dict[str, str] = {}
        api.propagator.inject(carrier)
        parent = carrier.get("traceparent")
        for rec in records:
            rec.traceparent = parent
        return await put()


# -- the worker side ------------------------------------------------------------------------------
class TaskTracing(Hooks):
    """Worker hooks: one span per attempt, child of the trace stored at submit, current while the
    task body runs (the slot's context; sync tasks' threads copy it)."""

    def __init__(self) -> None:
        if _api is None:
            enable()
        self.api = _api
        self._open: dict[str, tuple[Any, object]] = {}

    def _start(self, task: TaskRecord) -> Any:
        api = self.api
        parent = api.propagator.extract({"traceparent": task.traceparent}) if task.traceparent else None
        return api.tracer.start_span(
            f"gdw run {task.name}",
            context=parent,
            kind=api.kind.CONSUMER,
            attributes={
                "messaging.system": "gdw",
                "messaging.operation": "process",
                "gdw.task.id": task.id,
                "gdw.task.name": task.name,
                "gdw.queue": str(task.queue),
                "gdw.attempt": int(task.attempts),
                "gdw.worker": task.worker or "",
            },
        )

    def before_task(self, task: TaskRecord) -> None:
        span = self._start(task)
        token = self.api.context.attach(self.api.trace.set_span_in_context(span))
        self._open[task.id] = (span, token)

    def after_task(self, task: TaskRecord, outcome: Outcome) -> None:
        opened = self._open.pop(task.id, None)
        if opened is None:  # no before_task: a name this worker does not know, failed at once
            span, token = self._start(task), None
        else:
            span, token = opened
        api = self.api
        span.set_attribute("gdw.outcome", outcome.status)
        error = outcome.error
        if error is not None:
            span.add_event(
                "exception",
                {
                    "exception.type": error.type,
                    "exception.message": error.message,
                    "exception.stacktrace": error.traceback,
                },
            )
        if outcome.status in _ERROR_OUTCOMES:
            span.set_status(api.status(api.code.ERROR, str(error) if error is not None else outcome.status))
        elif outcome.status == "completed":
            span.set_status(api.status(api.code.OK))
        span.end()
        if token is not None:
            try:
                api.context.detach(token)
            except Exception:  # a token from another context: the span is ended all the same
                log.debug("tracing: context of task %s not detached", task.id)


def worker_hooks(given: Sequence[Hooks] = ()) -> list[Hooks]:
    """The tracing hook a worker adds when tracing is on (and none was given); [] when off."""
    if not active or any(isinstance(h, TaskTracing) for h in given):
        return []
    return [TaskTracing()]


_from_environment()
