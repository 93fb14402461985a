"""@task(isolation="process"): a sync task in a child process that is really stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gdw_core.errors import InvalidTask
from gdw_core.queue import TaskQueue
from gdw_core.registry import task
from gdw_core.status import TaskStatus as S
from tests.unit import worker_tasks as wt


async def _wait_for(q: TaskQueue, tid: str, status: S, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while (await q.status(tid)).status is not status:
        assert loop.time() < until, f"{tid} never reached {status}"
        await asyncio.sleep(0.02)


async def test_a_process_task_returns_its_result() -> None:
    async with TaskQueue(worker_count=1, tasks=[wt]) as q:
        tid = await q.submit(wt.add, 2, 3)
        assert await q.result(tid, 30) == {"sum": 5}


async def test_timeout_kills_the_child_before_its_side_effect(tmp_path: Path) -> None:
    out = tmp_path / "effect"
    async with TaskQueue(worker_count=1, tasks=[wt]) as q:
        tid = await q.options(retry=None).submit(wt.sleep_then_write, str(out), 3.0)
        await _wait_for(q, tid, S.RETRYING)
        rec = await q.status(tid)
        assert rec.errors[0].type == "TaskTimeout"
        assert "was killed" in rec.errors[0].message
        await q.cancel(tid)
    await asyncio.sleep(3.5)  # longer than the child would have slept
    assert not out.exists()


async def test_cancel_kills_the_child(tmp_path: Path) -> None:
    out = tmp_path / "effect"
    async with TaskQueue(worker_count=1, tasks=[wt]) as q:
        tid = await q.submit(wt.slow_write, str(out), 3.0)
        await _wait_for(q, tid, S.RUNNING)
        await asyncio.sleep(0.5)  # the child is sleeping
        await q.cancel(tid)
        await _wait_for(q, tid, S.CANCELLED)
        rec = await q.status(tid)
        assert "was killed" in rec.errors[-1].message
    await asyncio.sleep(3.5)
    assert not out.exists()


async def test_what_the_child_raised_is_recorded_with_its_type() -> None:
    async with TaskQueue(worker_count=1, tasks=[wt]) as q:
        tid = await q.submit(wt.raise_key_error)
        await _wait_for(q, tid, S.RETRYING)
        err = (await q.status(tid)).errors[0]
        assert err.type == "KeyError" and "missing" in err.message and "raise KeyError" in err.traceback
        skip = await q.submit(wt.explode, "no point")
        rec = await q.wait(skip, 30)
        assert rec.status is S.FAILED and rec.attempts == 1


async def test_a_thread_task_that_times_out_says_it_may_still_be_running() -> None:
    async with TaskQueue(worker_count=1, tasks=[wt]) as q:
        tid = await q.options(retry=None).submit(wt.thread_sleeper, 1.0)
        await _wait_for(q, tid, S.RETRYING)
        msg = (await q.status(tid)).errors[0].message
        assert "cannot be stopped" in msg and "may still be running" in msg
        await q.cancel(tid)


def test_process_isolation_is_refused_where_it_cannot_work() -> None:
    with pytest.raises(InvalidTask, match="sync functions"):

        @task(isolation="process")
        async def not_sync() -> None: ...

    with pytest.raises(InvalidTask, match="module-level"):

        @task(isolation="process")
        def local() -> None: ...

    with pytest.raises(InvalidTask, match="isolation must be"):
        task(isolation="fiber")


async def test_shutdown_kills_the_child_and_gives_the_attempt_back(tmp_path: Path) -> None:
    out = tmp_path / "effect"
    q = TaskQueue(worker_count=1, tasks=[wt])
    await q.start()
    tid = await q.submit(wt.slow_write, str(out), 3.0)
    await _wait_for(q, tid, S.RUNNING)
    await asyncio.sleep(0.5)
    storage = q.storage
    await asyncio.wait_for(q.shutdown(timeout=0.1), 30)  # guard only
    rec = await storage.get(tid)
    assert rec is not None and rec.status is S.RETRYING and rec.attempts == 0
    await asyncio.sleep(3.0)
    assert not out.exists()
