"""The demo tasks do what their names say, on an embedded queue (memory storage, real worker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import demo_tasks
from demo_tasks import load, runtime
from gdw_core import RetryPolicy, RetryStrategy, TaskQueue, TaskRegistry, TaskStatus


@pytest.fixture
async def queue() -> AsyncIterator[TaskQueue]:
    async with TaskQueue(worker_count=8, tasks=[demo_tasks], queue_size=None) as q:
        runtime.bind(q)
        yield q
        runtime.bind(None)


def test_names_are_stable_and_all_registered() -> None:
    names = [spec.name for spec in TaskRegistry().register_module(demo_tasks)]
    assert sorted(names) == sorted(demo_tasks.NAMES)
    assert "demo_tasks:resize" in names


async def test_each_kind(queue: TaskQueue) -> None:
    ids = {
        "fast": await queue.submit("demo_tasks:fast", {"a": 1}),
        "sleepy": await queue.submit("demo_tasks:sleepy", 0.0, 0.01),
        "flaky": await queue.submit("demo_tasks:flaky", 0.0, 0.0),
        "progress": await queue.submit("demo_tasks:progress", 3, 0.0),
        "cpu": await queue.submit("demo_tasks:cpu", 10),
        "heartbeat": await queue.submit("demo_tasks:heartbeat", "x"),
        "resize": await queue.submit("demo_tasks:resize", "photo.jpg", 800),
    }
    recs = {k: await queue.wait(v, 30) for k, v in ids.items()}
    assert {k: r.status for k, r in recs.items()} == dict.fromkeys(ids, TaskStatus.COMPLETED)
    assert recs["fast"].result == {"a": 1}
    assert recs["progress"].result == 3 and recs["progress"].progress == {"done": 3, "of": 3}
    assert len(recs["cpu"].result) == 16
    assert recs["heartbeat"].result["label"] == "x"
    assert recs["resize"].result == {"input": "photo.jpg", "output": "photo_800w.jpg", "width": 800, "height": 600}


async def test_failing_dead_letters_after_its_retries(queue: TaskQueue) -> None:
    rec = await queue.wait(await queue.submit("demo_tasks:failing", "nope"), 30)
    assert rec.status is TaskStatus.FAILED
    assert rec.attempts == 3 and [e.type for e in rec.errors] == ["DemoFailure"] * 3


async def test_flaky_retries_until_it_gives_up(queue: TaskQueue) -> None:
    spec = queue.registry.get("demo_tasks:flaky")
    assert spec.defaults.retry is not None and spec.defaults.retry.max_retries == 4
    assert spec.defaults.retry.max_delay <= 5  # short backoff: retries show up quickly in a demo
    fast_retries = RetryPolicy(max_retries=4, strategy=RetryStrategy.IMMEDIATE)
    rec = await queue.wait(await queue.options(retry=fast_retries).submit("demo_tasks:flaky", 1.0, 0.0), 30)
    assert rec.status is TaskStatus.FAILED and rec.attempts == 5


async def test_bad_arguments_fail_without_retries(queue: TaskQueue) -> None:
    rec = await queue.wait(await queue.submit("demo_tasks:resize", "photo.jpg", -3), 30)
    assert rec.status is TaskStatus.FAILED and rec.attempts == 1


async def test_cancellable_stops_when_cancelled(queue: TaskQueue) -> None:
    task_id = await queue.submit("demo_tasks:cancellable", 100_000, 0.01)
    while (await queue.status(task_id)).status is not TaskStatus.RUNNING:
        await asyncio.sleep(0.01)
    await queue.cancel(task_id)
    rec = await queue.wait(task_id, 30)
    assert rec.status is TaskStatus.CANCELLED


async def test_fanout_submits_children_to_the_bound_queue(queue: TaskQueue) -> None:
    rec = await queue.wait(await queue.submit("demo_tasks:fanout", 4), 30)
    assert rec.status is TaskStatus.COMPLETED and len(rec.result) == 4
    children = [await queue.wait(child, 30) for child in rec.result]
    assert [c.result for c in children] == [0, 1, 2, 3]


async def test_generate_submits_a_mix_until_stopped(queue: TaskQueue) -> None:
    stop = asyncio.Event()
    stats = load.LoadStats()
    runner = asyncio.create_task(load.generate(queue, 500.0, stop, mix={"fast": 3, "resize": 1}, seed=7, stats=stats))
    while stats.submitted < 20:
        await asyncio.sleep(0.01)
    stop.set()
    done = await runner
    assert done is stats and set(stats.by_kind) <= {"fast", "resize"}
    assert sum(stats.by_kind.values()) == stats.submitted


async def test_generate_counts_a_full_queue_as_dropped() -> None:
    async with TaskQueue(worker_count=0, queue_size=1) as q:
        stats = await load.generate(q, 1000.0, mix={"fast": 1}, duration=0.05)
    assert stats.submitted == 1 and stats.dropped >= 1


def test_rate_and_mix_parsing() -> None:
    assert load.parse_rate("50/s") == 50
    assert load.parse_rate("120/m") == 2
    assert load.parse_rate("3") == 3
    for bad in ("fast", "0/s", "5/day", "-1"):
        with pytest.raises(ValueError):
            load.parse_rate(bad)
    assert load.parse_mix("fast=5, demo_tasks:sleepy=2,cpu") == {"fast": 5, "sleepy": 2, "cpu": 1}
    for bad in ("nope=1", "fast=x", "fast=0"):
        with pytest.raises(ValueError):
            load.parse_mix(bad)


def test_load_command_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert load.main(["--rate", "lots"]) == 2
    assert "bad rate" in capsys.readouterr().err
    assert load.main(["--mix", "zzz=1"]) == 2
