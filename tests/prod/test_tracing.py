"""Tracing (gdw_core.tracing, the ``gdw[otel]`` extra): the submit's trace context is stored with
the task in a real Redis, and each attempt a worker runs is a span continuing it; spans are read
back with the OpenTelemetry SDK's in-memory exporter (and a file exporter in a worker process)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gdw_core import TaskQueue, task, tracing
from gdw_core.errors import TaskFailed
from gdw_core.record import TaskRecord
from gdw_core.retry import RetryPolicy
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from gdw_core.storage.redis.encoding import static_json
from tests.prod.deployment import ROOT, spawn_gdw_worker, stop
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.prod, pytest.mark.redis]

_tries: dict[int, int] = {}


@task
async def traced_double(n: int) -> int:
    with trace.get_tracer("app").start_as_current_span("inside the task"):
        return n * 2


@task
def traced_sync(n: int) -> int:
    """A sync task (a worker thread): the span it opens still nests under the attempt."""
    with trace.get_tracer("app").start_as_current_span("inside the sync task"):
        return n + 1


@task(retry=RetryPolicy(max_retries=1, base_delay=0.0, max_delay=0.0))
async def traced_flaky(n: int) -> int:
    _tries[n] = _tries.get(n, 0) + 1
    if _tries[n] == 1:
        raise RuntimeError(f"first try of {n}")
    return n


@task(retry=RetryPolicy(max_retries=0))
async def traced_boom(n: int) -> None:
    raise ValueError(f"boom {n}")


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.enable(provider)
    previous = trace._TRACER_PROVIDER  # the raw global (None when the process never set one)
    trace._TRACER_PROVIDER = provider  # the tasks' own spans (trace.get_tracer) go to it too
    try:
        yield memory
    finally:
        tracing.disable()
        trace._TRACER_PROVIDER = previous
        provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_each_attempt_is_a_span_continuing_the_submit(
    redis_server: RedisServer, exporter: InMemorySpanExporter
) -> None:
    redis_server.cli("flushall")
    _tries.clear()
    storage = RedisStorage.from_url(redis_server.url)
    tasks = [traced_double, traced_sync, traced_flaky, traced_boom]
    async with TaskQueue(worker_count=2, storage=storage, tasks=tasks) as queue:
        assert any(isinstance(h, tracing.TaskTracing) for h in queue.hooks.hooks)
        with trace.get_tracer("app").start_as_current_span("request") as request:
            ok = await queue.submit(traced_double, 21)
            sync = await queue.submit(traced_sync, 1)
            flaky = await queue.submit(traced_flaky, 7)
            boom = await queue.submit(traced_boom, 3)
        assert await queue.result(ok, timeout=30) == 42
        assert await queue.result(sync, timeout=30) == 2
        assert await queue.result(flaky, timeout=30) == 7
        with pytest.raises(TaskFailed):
            await queue.result(boom, timeout=30)
        stored = redis_server.cli("hget", storage.keys.task("default", ok), "d")
        rec = await queue.status(ok)
        assert rec.traceparent is not None and rec.traceparent in stored  # in Redis, with the task
        await asyncio.sleep(0.2)  # the last after_task hooks run just after the outcome is sent
    spans = exporter.get_finished_spans()
    trace_id = request.get_span_context().trace_id
    submits = {s.attributes["gdw.task.id"]: s for s in spans if s.kind is SpanKind.PRODUCER}
    assert set(submits) == {ok, sync, flaky, boom}
    runs: dict[str, list[ReadableSpan]] = {}
    for s in spans:
        if s.kind is SpanKind.CONSUMER:
            runs.setdefault(str(s.attributes["gdw.task.id"]), []).append(s)
    assert {k: len(v) for k, v in runs.items()} == {ok: 1, sync: 1, flaky: 2, boom: 1}
    for task_id, submit in submits.items():
        assert submit.context.trace_id == trace_id and parent_of(submit) == request.get_span_context().span_id
        assert rec.traceparent is not None
        for run in runs[task_id]:  # every attempt: a child of its submit, in the request's trace
            assert run.context.trace_id == trace_id
            assert parent_of(run) == submit.context.span_id
            assert run.attributes["gdw.queue"] == "default"
            assert run.attributes["gdw.worker"]
    (run_ok,) = runs[ok]
    assert run_ok.name == f"gdw run {traced_double.__module__}:traced_double"
    assert run_ok.attributes["gdw.outcome"] == "completed" and run_ok.attributes["gdw.attempt"] == 1
    assert run_ok.status.status_code is StatusCode.OK
    (inner,) = by_name(spans, "inside the task")
    assert parent_of(inner) == run_ok.context.span_id  # the run span is current in the task body
    (inner_sync,) = by_name(spans, "inside the sync task")
    assert parent_of(inner_sync) == runs[sync][0].context.span_id
    first, second = sorted(runs[flaky], key=lambda s: int(s.attributes["gdw.attempt"]))
    assert (first.attributes["gdw.outcome"], second.attributes["gdw.outcome"]) == ("retrying", "completed")
    assert (first.attributes["gdw.attempt"], second.attributes["gdw.attempt"]) == (1, 2)
    assert first.status.status_code is StatusCode.ERROR
    (event,) = first.events
    assert event.name == "exception" and event.attributes["exception.type"] == "RuntimeError"
    assert "first try of 7" in str(event.attributes["exception.message"])
    assert "Traceback" in str(event.attributes["exception.stacktrace"])
    (run_boom,) = runs[boom]
    assert run_boom.attributes["gdw.outcome"] == "failed" and run_boom.status.status_code is StatusCode.ERROR
    assert run_boom.events[0].attributes["exception.type"] == "ValueError"


async def test_submit_many_is_one_span_and_an_unknown_name_still_gets_its_span(
    redis_server: RedisServer, exporter: InMemorySpanExporter
) -> None:
    redis_server.cli("flushall")
    storage = RedisStorage.from_url(redis_server.url)
    async with TaskQueue(worker_count=2, storage=storage, tasks=[traced_double]) as queue:
        ids = await queue.submit_many(traced_double, [(i,) for i in range(5)])
        ghost = await queue.submit("nowhere:ghost")
        assert [await queue.result(i, timeout=30) for i in ids] == [0, 2, 4, 6, 8]
        with pytest.raises(TaskFailed):
            await queue.result(ghost, timeout=30)
        await asyncio.sleep(0.2)
    spans = exporter.get_finished_spans()
    producers = [s for s in spans if s.kind is SpanKind.PRODUCER]
    batch = next(s for s in producers if s.attributes["messaging.batch.message_count"] == 5)
    runs = [s for s in spans if s.kind is SpanKind.CONSUMER and s.attributes["gdw.task.id"] in ids]
    assert len(runs) == 5 and all(parent_of(r) == batch.context.span_id for r in runs)
    (ghost_run,) = [s for s in spans if s.kind is SpanKind.CONSUMER and s.attributes["gdw.task.id"] == ghost]
    assert ghost_run.attributes["gdw.outcome"] == "failed"
    assert ghost_run.events[0].attributes["exception.type"] == "UnknownTask"


def test_off_by_default_nothing_imported_nothing_stored() -> None:
    """Without GDW_TRACING (or enable()), a producer and an embedded worker import nothing of
    opentelemetry (beyond what redis-py 8 imports by itself when it is installed), add no hook and
    store no trace context."""
    code = """
import asyncio, sys
import redis, redis.asyncio, redis.asyncio.cluster, redis.asyncio.sentinel
def otel():
    return {m for m in sys.modules if m.startswith("opentelemetry")}
baseline = otel()
from gdw_core import TaskQueue, task, tracing
from gdw_core.storage.redis.encoding import static_json

@task
async def one():
    return 1

async def main():
    async with TaskQueue(worker_count=1, tasks=[one]) as q:
        assert q.hooks.hooks == [], q.hooks.hooks
        tid = await q.submit(one)
        assert await q.result(tid, timeout=10) == 1
        rec = await q.status(tid)
        assert rec.traceparent is None
        assert "traceparent" not in static_json(rec)
    assert not otel() - baseline, otel() - baseline
    assert tracing._api is None and not tracing.active
    print("ok")

asyncio.run(main())
"""
    env = {k: v for k, v in os.environ.items() if k != tracing.ENV}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("garbage", ["nonsense", "00-" + "g" * 32 + "-" + "0" * 16 + "-01", 42, ["x"]])
def test_a_garbage_trace_context_in_storage_is_ignored(garbage: object) -> None:
    rec = TaskRecord.from_dict({"id": "t1", "name": "m:f", "traceparent": garbage})
    assert rec.traceparent is None


def test_tracing_without_the_api_is_one_clear_error(tmp_path: Path) -> None:
    """GDW_TRACING=1 where opentelemetry is not importable: a warning, tracing stays off."""
    (tmp_path / "opentelemetry").mkdir()
    (tmp_path / "opentelemetry" / "__init__.py").write_text("raise ImportError('no otel here')\n")
    code = "from gdw_core import tracing; print(tracing.active)"
    env = {**os.environ, tracing.ENV: "1", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert "tracing stays off" in out.stderr and "gdw[otel]" in out.stderr


SPAN_FILE_TASKS = '''
"""Tasks of the tracing test's worker process: its spans go to a JSON-lines file."""
import json
import os

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class FileExporter(SpanExporter):
    def export(self, spans):
        with open(os.environ["SPAN_FILE"], "a") as f:
            for s in spans:
                f.write(json.dumps({
                    "name": s.name, "trace": s.context.trace_id, "span": s.context.span_id,
                    "parent": s.parent.span_id if s.parent else None, "attributes": dict(s.attributes),
                }) + "\\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
trace.set_tracer_provider(provider)


async def hello(n):
    return n
'''


async def test_a_worker_process_continues_the_producers_trace(
    redis_server: RedisServer, task_dir: Path, exporter: InMemorySpanExporter
) -> None:
    redis_server.cli("flushall")
    (task_dir / "span_tasks.py").write_text(SPAN_FILE_TASKS)
    span_file = task_dir / "spans.jsonl"
    worker = spawn_gdw_worker(
        task_dir, "span_tasks", "--redis", redis_server.url, env={tracing.ENV: "1", "SPAN_FILE": str(span_file)}
    )
    producer = TaskQueue(worker_count=0, storage=RedisStorage.from_url(redis_server.url))
    try:
        with trace.get_tracer("app").start_as_current_span("request"):
            task_id = await producer.submit("span_tasks:hello", 5)
        assert await producer.result(task_id, timeout=60) == 5
        assert (await producer.status(task_id)).status is TaskStatus.COMPLETED
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (span_file.exists() and span_file.read_text().strip()):
            assert loop.time() < deadline, (task_dir / "worker.log").read_text()
            await asyncio.sleep(0.1)
    finally:
        stop(worker)
        await producer.shutdown()
    (submit,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    (run,) = [json.loads(line) for line in span_file.read_text().splitlines()]
    assert run["name"] == "gdw run span_tasks:hello"
    assert run["trace"] == submit.context.trace_id  # producer and worker spans share one trace
    assert run["parent"] == submit.context.span_id
    assert run["attributes"]["gdw.task.id"] == task_id and run["attributes"]["gdw.outcome"] == "completed"


def test_static_json_carries_the_trace_context_only_when_set() -> None:
    rec = TaskRecord(id="t", name="m:f")
    assert "traceparent" not in static_json(rec)
    rec.traceparent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    assert rec.traceparent in static_json(rec)
