"""A worker's own life: long tasks kept alive by the heartbeat (9), graceful shutdown by signal
and by command, and a second signal (10), timeouts and tasks that ignore cancellation (11)."""

from __future__ import annotations

import asyncio
import signal
import time

from gdw_core import RetryPolicy
from gdw_core.status import TaskStatus
from tests.faults.checker import check, read_log
from tests.faults.conftest import Scene
from tests.faults.harness import LEASE, wait_for
from tests.faults.test_redis_faults import gdw_cli

S = TaskStatus
WORK = "tests.faults.fault_tasks:work"
BUSY = "tests.faults.fault_tasks:busy"
STUBBORN = "tests.faults.fault_tasks:stubborn"


def started(scene: Scene, ids: list[str], pid: int | None = None) -> set[str]:
    return {
        x.task_id for x in read_log(scene.log_dir) if x.phase == "start" and x.task_id in ids and pid in (None, x.pid)
    }


async def test_a_task_running_five_leases_while_heartbeating_is_never_reclaimed(scene: Scene) -> None:
    holder = scene.workers.spawn(concurrency=2)
    await scene.workers_registered(1)
    ids = [await scene.producer.submit(WORK, 5 * LEASE), await scene.producer.submit(BUSY, 5 * LEASE)]
    await wait_for(lambda: _started(scene, ids, 2), 20, "both long tasks to start")
    scene.workers.spawn(concurrency=2)  # a second worker whose recoverer would reclaim an expired lease
    deadlines = []
    while not await _all_terminal(scene, ids):
        now = await scene.storage.now()
        for t in ids:
            rec = await scene.storage.get(t)
            assert rec is not None
            if rec.status is S.RUNNING:
                dl = await scene.storage.client.hget(scene.storage.keys.task("default", t), "dl")
                assert dl is not None and float(dl) > now, "a heart-beating task's lease lapsed"
                deadlines.append(float(dl))
        await asyncio.sleep(0.25)
    out = await check(scene.storage, ids, scene.log_dir, scene.tail, once=True)
    for t in ids:
        rec = out.records[t]
        assert rec.attempts == 1 and rec.errors == [] and rec.result["p"] == holder.pid
        assert rec.finished_at is not None and rec.started_at is not None
        # started_at is Redis's time when the start mark arrived, less how long ago the worker
        # started the task; the mark's own trip to Redis is not subtracted, so on a loaded machine
        # the recorded run can come out a millisecond or so short of the task's 5 leases
        assert rec.finished_at - rec.started_at >= 5 * LEASE - 0.05
    assert len(set(deadlines)) > 5, "the lease was extended again and again"


async def _all_terminal(scene: Scene, ids: list[str]) -> bool:
    recs = [await scene.storage.get(t) for t in ids]
    return all(r is not None and r.status.terminal for r in recs)


async def _started(scene: Scene, ids: list[str], n: int) -> bool:
    return len(started(scene, ids)) >= n


async def _graceful(scene: Scene, how: str) -> None:
    # 2 short tasks finish within the shutdown timeout; 1 long one does not and is handed back.
    # The short ones outlast the delivery of the command (a CLI process starting on a loaded
    # machine), so no slot frees up for a waiting task before the drain begins.
    leaving = scene.workers.spawn(concurrency=3, shutdown_timeout=4.0)
    await scene.workers_registered(1)
    short = await scene.producer.submit_many(WORK, [(2.5,), (3.0,)])
    long = await scene.producer.submit(WORK, per_run=[60.0, 0.1])
    await wait_for(lambda: _started(scene, [*short, long], 3), 20, "three tasks to start")
    waiting = await scene.producer.submit_many(WORK, [(0.0,) for _ in range(10)])  # no free slot: stay pending
    t0 = time.monotonic()
    if how == "sigterm":
        leaving.send(signal.SIGTERM)
    else:
        out = gdw_cli("shutdown", "--timeout", "4s", "--redis", scene.redis.url)
        assert out.returncode == 0, out.stderr
    assert await leaving.wait(30) == 0, leaving.output()
    took = time.monotonic() - t0
    assert took < 4.0 + 5.0, f"graceful stop took {took:.1f}s with a 4s timeout"
    for t in short:
        rec = await scene.storage.get(t)
        assert rec is not None and rec.status is S.COMPLETED and rec.attempts == 1
    handed = await scene.storage.get(long)
    assert handed is not None and handed.status in (S.RETRYING, S.PENDING)
    # a graceful drain does not spend an attempt: the interruption is kept, marked as not counted
    assert [e.type for e in handed.errors] == ["Interrupted"] and handed.attempts == 0
    assert handed.errors[0].counted is False
    for t in waiting:
        rec = await scene.storage.get(t)
        assert rec is not None and rec.status is S.PENDING and rec.attempts == 0
    gone = [w for w in await scene.storage.workers() if w.pid == leaving.pid]
    assert [w.state for w in gone] == ["stopped"], "it said goodbye (kept in the history as stopped)"
    scene.workers.spawn(concurrency=4)
    await scene.all_terminal(30)
    out = await check(scene.storage, [*short, long, *waiting], scene.log_dir, scene.tail)
    events = [e.kind for e in out.events[long]]
    assert events.count("retrying") == 1, f"handed back exactly once: {events}"
    assert out.records[long].attempts == 1  # the interrupted run gave its attempt back


async def test_sigterm_is_graceful(scene: Scene) -> None:
    await _graceful(scene, "sigterm")


async def test_shutdown_command_is_graceful(scene: Scene) -> None:
    await _graceful(scene, "command")


async def test_second_sigterm_exits_at_once_and_leases_cover_it(scene: Scene) -> None:
    leaving = scene.workers.spawn(concurrency=4, shutdown_timeout=60.0)
    await scene.workers_registered(1)
    ids = await scene.producer.submit_many(WORK, [{"per_attempt": [30.0, 0.1]} for _ in range(4)])
    await wait_for(lambda: _started(scene, ids, 4), 20, "four tasks to start")
    leaving.send(signal.SIGTERM)
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    leaving.send(signal.SIGTERM)
    assert await leaving.wait(10) == 1
    assert time.monotonic() - t0 < 2.0, "a second signal exits at once"
    scene.workers.spawn(concurrency=4)
    await scene.all_terminal(30)
    out = await check(scene.storage, ids, scene.log_dir, scene.tail)
    for t in ids:
        assert [e.type for e in out.records[t].errors] == ["LeaseExpired"], out.records[t].errors


async def test_timeouts_and_a_task_ignoring_cancellation_free_their_slot(scene: Scene) -> None:
    scene.workers.spawn(concurrency=2)
    await scene.workers_registered(1)
    strict = scene.producer.options(timeout=1.0, retry=RetryPolicy(max_retries=0))
    # both slots taken by tasks that overrun their timeout; one of them ignores cancellation
    stubborn = await strict.submit(STUBBORN, 8.0)
    overrun = await strict.submit(WORK, 30.0)
    await wait_for(lambda: _started(scene, [stubborn, overrun], 2), 20, "both to start")
    flowing = await scene.producer.submit_many(WORK, [(0.02,) for _ in range(40)])
    await wait_for(lambda: _all_done(scene, flowing), 20, "other tasks to flow past the stuck ones")
    log = read_log(scene.log_dir)
    finished_flowing = max(x.at for x in log if x.task_id in flowing and x.phase == "done")
    assert not [x for x in log if x.task_id == stubborn and x.phase == "done"], "the stubborn task is still going"
    await scene.all_terminal(30)
    expect = {stubborn: S.FAILED, overrun: S.FAILED} | {t: S.COMPLETED for t in flowing}
    out = await check(scene.storage, [stubborn, overrun, *flowing], scene.log_dir, scene.tail, expect=expect)
    for t in (stubborn, overrun):
        assert [e.type for e in out.records[t].errors] == ["TaskTimeout"]
    # the abandoned body ran on to its end well after the others flowed; its late result was not recorded
    await wait_for(lambda: _logged(scene, stubborn, "ignored-cancel"), 15, "the stubborn body to end")
    late = [x for x in read_log(scene.log_dir) if x.task_id == stubborn and x.phase == "ignored-cancel"]
    assert late[0].extra["cancelled"] >= 1 and late[0].at > finished_flowing
    assert (await scene.storage.get(stubborn)).status is S.FAILED  # type: ignore[union-attr]


async def _all_done(scene: Scene, ids: list[str]) -> bool:
    recs = [await scene.storage.get(t) for t in ids]
    return all(r is not None and r.status is S.COMPLETED for r in recs)


async def _logged(scene: Scene, task_id: str, phase: str) -> bool:
    return any(x.task_id == task_id and x.phase == phase for x in read_log(scene.log_dir))
