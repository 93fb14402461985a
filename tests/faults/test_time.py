"""Time: three schedulers with one frozen (7), worker clocks skewed by +-90 s with libfaketime (8).
"Now" comes from Redis TIME, so neither may run a task early, reclaim one early or fire a tick twice."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from collections import Counter

import pytest

from gdw_core.status import TaskStatus
from tests.faults.checker import EventTail, check, read_log
from tests.faults.conftest import Scene
from tests.faults.harness import LEASE, wait_for
from tests.faults.test_redis_faults import gdw_cli

S = TaskStatus
WORK = "tests.faults.fault_tasks:work"
TICK = "tests.faults.fault_tasks:tick"
WITNESS = "tests.faults.fault_tasks:witness"
INTERVAL = 1.0


def tick_ids(tail: EventTail, entry: str) -> list[str]:
    return sorted({e.task_id for e in tail.events if e.task_id and e.task_id.startswith(entry + "@")})


def check_ticks(tail: EventTail, entry: str, ids: list[str]) -> None:
    """Ticks lie on the entry's grid; each slot of the grid between the first and the last tick
    was either enqueued once or skipped because the previous run was unfinished (no overlap)."""
    ms = sorted(int(t.rsplit("@", 1)[1]) for t in ids)
    step = int(INTERVAL * 1000)
    assert all((m - ms[0]) % step == 0 for m in ms), f"ticks off the grid: {ms}"
    created = Counter(e.task_id for e in tail.events if e.task_id in ids and e.old is None and e.kind == "pending")
    assert set(created.values()) == {1}, f"a tick enqueued more than once: {created}"
    skipped = sum(1 for e in tail.events if e.kind == "skipped")
    slots = (ms[-1] - ms[0]) // step + 1
    assert slots == len(ms) + skipped, f"{slots} ticks due, {len(ms)} enqueued, {skipped} skipped: {ms}"


async def test_three_schedulers_one_frozen_each_tick_once(scene: Scene) -> None:
    workers = [scene.workers.spawn(concurrency=2) for _ in range(3)]
    await scene.workers_registered(3)
    await scene.producer.schedule_recurring(TICK, interval=INTERVAL, entry_id="beat", start_now=True)
    await asyncio.sleep(2.0)
    workers[0].send(signal.SIGSTOP)  # its scheduler stops mid-whatever it was doing
    await asyncio.sleep(2 * LEASE + 1.5)
    workers[0].send(signal.SIGCONT)
    await asyncio.sleep(2.0)
    await scene.producer.cancel_recurring("beat")
    await scene.all_terminal(30)
    await scene.tail.catch_up()
    ids = tick_ids(scene.tail, "beat")
    assert len(ids) >= 5
    await check(scene.storage, ids, scene.log_dir, scene.tail)
    check_ticks(scene.tail, "beat", ids)


def skewed(offset: str) -> dict[str, str]:
    """The environment that runs a process under libfaketime with its clock ``offset`` (e.g. +90s)."""
    if shutil.which("faketime") is None:
        pytest.fail("libfaketime not found: apt-get install -y faketime (Debian package 'faketime')", pytrace=False)
    libs = subprocess.run(["dpkg", "-L", "libfaketime"], capture_output=True, text=True).stdout.split()
    lib = next((p for p in libs if p.endswith("/libfaketime.so.1")), None)
    assert lib is not None, "libfaketime.so.1 not found (dpkg -L libfaketime)"
    # the preload (not the faketime wrapper, which forks) so that the pid we watch is the worker's
    return {"LD_PRELOAD": lib, "FAKETIME": offset, "FAKETIME_DONT_RESET": "1"}


async def test_clock_skew_of_90s_changes_nothing(scene: Scene) -> None:
    # a shutdown command from before any of these workers started: none of them may obey it (a
    # worker whose clock is behind used to replay it, one ahead used to miss later commands)
    assert gdw_cli("shutdown", "--redis", scene.redis.url).returncode == 0
    await asyncio.sleep(0.2)
    # a worker on a true clock starts a long task first, so the skewed ones can only watch it
    honest = scene.workers.spawn(concurrency=2)
    await scene.workers_registered(1)
    long = await scene.producer.submit(WORK, 3 * LEASE)
    await wait_for(lambda: _started_on(scene, long, honest.pid), 20, "the long task to start")
    ahead = scene.workers.spawn(concurrency=2, env=skewed("+90s"))
    behind = scene.workers.spawn(concurrency=2, env=skewed("-90s"))
    await scene.workers_registered(3)
    await asyncio.sleep(2 * LEASE)  # several heartbeats: time to (wrongly) obey that old command
    assert all(w.alive() for w in (honest, ahead, behind)), "a worker obeyed a command older than itself"
    # the skew is real: the processes' own clocks are 90 s off
    probes = await scene.producer.submit_many(WITNESS, [() for _ in range(40)])
    await scene.producer.schedule_recurring(TICK, interval=INTERVAL, entry_id="skewtick", start_now=True)
    delayed = [await scene.producer.schedule(WORK, 3.0, 0.0) for _ in range(6)]
    await asyncio.sleep(5.0)
    await scene.producer.cancel_recurring("skewtick")
    await scene.all_terminal(30)
    await scene.tail.catch_up()
    ticks = tick_ids(scene.tail, "skewtick")
    ids = [long, *probes, *delayed, *ticks]
    out = await check(scene.storage, ids, scene.log_dir, scene.tail)
    offsets = {x.pid: x.at - out.records[x.task_id].started_at for x in read_log(scene.log_dir) if x.task_id in probes}
    assert ahead.pid in offsets and behind.pid in offsets, "both skewed workers ran probes"
    assert 80 < offsets[ahead.pid] < 100 and -100 < offsets[behind.pid] < -80, offsets
    # no early reclaim: the long task kept its one lease while skewed recoverers ran
    rec = out.records[long]
    assert rec.attempts == 1 and rec.errors == [] and rec.result["p"] == honest.pid
    # no early run: nothing started before its run-at (both on Redis's clock)
    for t in delayed:
        r = out.records[t]
        assert r.started_at is not None and r.started_at >= r.run_at >= r.created_at + 2.9, r
    # no double tick
    assert len(ticks) >= 3
    check_ticks(scene.tail, "skewtick", ticks)
    # and commands reach skewed workers too
    assert gdw_cli("shutdown", "--timeout", "5s", "--redis", scene.redis.url).returncode == 0
    for w in (honest, ahead, behind):
        assert await w.wait(20) == 0, w.output()[-2000:]


async def _started_on(scene: Scene, task_id: str, pid: int) -> bool:
    return any(x.task_id == task_id and x.pid == pid and x.phase == "start" for x in read_log(scene.log_dir))
