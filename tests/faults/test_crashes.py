"""Workers that die or freeze: kill -9 mid-task (1), SIGSTOP past the lease (2), random kill -9
over thousands of tasks (3), poison tasks that kill their worker (12)."""

from __future__ import annotations

import asyncio
import random
import signal
import time

from gdw_core import RetryPolicy
from gdw_core.status import TaskStatus
from tests.faults.checker import check, read_log
from tests.faults.conftest import Scene
from tests.faults.harness import LEASE, wait_for

S = TaskStatus
WORK = "tests.faults.fault_tasks:work"
POISON = "tests.faults.fault_tasks:poison"
#: scheduling slack on top of a guarantee's own bound, for a loaded 2-core CI machine
SLACK = 1.0


def started_on(scene: Scene, pid: int) -> dict[str, float]:
    """task id -> when it started, for executions of process ``pid`` that have not finished."""
    open_runs: dict[str, float] = {}
    for x in read_log(scene.log_dir):
        if x.pid == pid and x.phase == "start":
            open_runs[x.task_id] = x.at
        elif x.pid == pid and x.phase == "done":
            open_runs.pop(x.task_id, None)
    return open_runs


async def test_kill_9_mid_task_reruns_elsewhere_within_two_leases(scene: Scene) -> None:
    victim = scene.workers.spawn(concurrency=4)
    await scene.workers_registered(1)
    ids = await scene.producer.submit_many(WORK, [(3.0,) for _ in range(4)])

    async def victim_mid_task() -> bool:
        return len(started_on(scene, victim.pid)) == 4

    await wait_for(victim_mid_task, 20, "the victim to be running its tasks")
    # an idle survivor with room for all of them, so the delay measured is recovery, not a backlog
    survivor = scene.workers.spawn(concurrency=8)
    await scene.workers_registered(2)
    cut = started_on(scene, victim.pid)
    assert len(cut) == 4, "the victim is still mid-task"
    killed_at = time.time()
    victim.kill9()
    await scene.all_terminal(30)
    out = await check(scene.storage, ids, scene.log_dir, scene.tail)
    delays = []
    for task_id in cut:
        rerun = [x for x in out.runs(task_id) if x.pid != victim.pid]
        assert rerun, f"{task_id} held by the killed worker never ran again"
        delays.append(rerun[0].at - killed_at)
        rec = out.records[task_id]
        assert rec.attempts == 2 and rec.errors[0].type == "LeaseExpired"
        assert rec.result["p"] == survivor.pid
    # the guarantee: re-run within 2x the lease of the crash (measured here: 1.0-1.5x)
    assert max(delays) <= 2 * LEASE + SLACK, f"re-run delays {delays}"
    print(f"kill -9: {len(cut)} interrupted tasks re-ran after {min(delays):.2f}-{max(delays):.2f}s (lease {LEASE}s)")


async def test_sigstop_past_the_lease_then_sigcont_stale_writes_refused(scene: Scene) -> None:
    victim = scene.workers.spawn(concurrency=2)
    await scene.workers_registered(1)
    # attempt 1 (the victim) takes 1 s; attempt 2 (the new owner) takes 4 s, so the victim wakes
    # up and tries to record its outcome while the new owner is still running the task
    ids = await scene.producer.submit_many(WORK, [{"per_attempt": [1.0, 4.0]} for _ in range(2)])

    async def victim_running_both() -> bool:
        return len(started_on(scene, victim.pid)) == 2

    await wait_for(victim_running_both, 20, "the victim to run both tasks")
    await asyncio.sleep(0.7)
    victim.send(signal.SIGSTOP)
    frozen_at = time.monotonic()
    owner = scene.workers.spawn(concurrency=4)

    async def reclaimed() -> bool:
        recs = [await scene.storage.get(t) for t in ids]
        return all(r is not None and r.status is S.RUNNING and r.attempts == 2 for r in recs)

    await wait_for(reclaimed, 30, "the new owner to reclaim both tasks")
    # not before its lease ran out: the lease was last renewed by a heartbeat at most one heartbeat
    # interval (lease/3) before the freeze
    assert time.monotonic() - frozen_at > LEASE - LEASE / 3
    victim.send(signal.SIGCONT)

    async def victim_finished() -> bool:
        return not started_on(scene, victim.pid)

    await wait_for(victim_finished, 10, "the thawed victim to finish its stale executions")
    await asyncio.sleep(0.5)  # its acks are sent (and refused) within this
    for task_id in ids:
        rec = await scene.storage.get(task_id)
        assert rec is not None and rec.status is S.RUNNING, f"a stale outcome was recorded: {rec}"
        assert rec.worker and str(owner.pid) in rec.worker
    await scene.all_terminal(30)
    out = await check(scene.storage, ids, scene.log_dir, scene.tail)
    for task_id in ids:
        stale = [x for x in out.runs(task_id, "done") if x.pid == victim.pid]
        assert stale, "the victim should have finished its (stale) execution after SIGCONT"
        rec = out.records[task_id]
        assert rec.result["p"] == owner.pid and rec.attempts == 2
    assert victim.alive(), "the thawed worker keeps running"


async def test_random_kill_9_over_thousands_of_tasks_loses_none(scene: Scene) -> None:
    rng = random.Random(7)
    for _ in range(3):
        scene.workers.spawn(concurrency=8)
    await scene.workers_registered(3)
    patient = scene.producer.options(retry=RetryPolicy(max_retries=50, base_delay=0.01, max_delay=0.05))
    ids: list[str] = []
    kills = 0
    end = time.monotonic() + 12.0
    while time.monotonic() < end:
        ids += await patient.submit_many(WORK, [(rng.choice((0.0, 0.005, 0.02)),) for _ in range(80)])
        await asyncio.sleep(rng.uniform(0.15, 0.45))
        live = scene.workers.live()
        if live:
            rng.choice(live).kill9()
            kills += 1
        while len(scene.workers.live()) < 3:
            scene.workers.spawn(concurrency=8)
    assert len(ids) >= 2000
    await scene.all_terminal(90)
    await check(scene.storage, ids, scene.log_dir, scene.tail)
    print(f"random kill -9: {kills} kills, {len(ids)} tasks, none lost")


async def test_poison_tasks_fail_after_their_attempts_and_the_queue_keeps_moving(scene: Scene) -> None:
    for _ in range(3):
        scene.workers.spawn(concurrency=1)
    await scene.workers_registered(3)
    limited = scene.producer.options(retry=RetryPolicy(max_retries=2, base_delay=0.01))
    poison = [await limited.submit(POISON) for _ in range(3)]
    normal = await scene.producer.submit_many(WORK, [(0.01,) for _ in range(100)])
    restarts = 0

    async def supervise() -> None:
        nonlocal restarts
        while True:
            while len(scene.workers.live()) < 3:
                scene.workers.spawn(concurrency=1)
                restarts += 1
            await asyncio.sleep(0.1)

    supervisor = asyncio.create_task(supervise())
    try:
        await scene.all_terminal(90)
    finally:
        supervisor.cancel()
    expect = {t: S.FAILED for t in poison} | {t: S.COMPLETED for t in normal}
    out = await check(scene.storage, poison + normal, scene.log_dir, scene.tail, expect=expect)
    for task_id in poison:
        rec = out.records[task_id]
        assert rec.attempts == 3 and [e.type for e in rec.errors] == ["LeaseExpired"] * 3
        assert "poison" in (out.events[task_id][-1].detail or "")
    # every execution of a poison task took its process down with it (and with it the lease of
    # the task that process had claimed ahead, so an attempt may end without running); the test
    # replaced each dead worker
    starts = [x for t in poison for x in out.runs(t)]
    assert starts and len({x.pid for x in starts}) == len(starts)
    assert all(len(out.runs(t)) <= 3 for t in poison)
    assert restarts >= len(starts)
