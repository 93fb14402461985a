"""Redis itself fails: kill -9 and restart with AOF (4), a stall longer than the lease (5),
connections dropped under the workers' feet (6)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

from gdw_core import GdwError
from gdw_core.status import TaskStatus
from tests.faults.checker import check, check_leases
from tests.faults.conftest import Scene
from tests.faults.harness import LEASE, ROOT, wait_for

S = TaskStatus
WORK = "tests.faults.fault_tasks:work"


async def submit_until_accepted(scene: Scene, seconds: float, task_id: str, give_up: float = 60) -> None:
    """What a careful producer does: a caller-given id makes retrying a submit safe (idempotent)."""
    deadline = time.monotonic() + give_up
    while True:
        try:
            await scene.producer.options(task_id=task_id, if_exists="skip").submit(WORK, seconds)
            return
        except (GdwError, ConnectionError, OSError, TimeoutError):
            assert time.monotonic() < deadline, f"submit of {task_id} never got through"
            await asyncio.sleep(0.1)


async def produce(scene: Scene, ids: list[str], seconds: float, count: int, pause: float) -> None:
    for _ in range(count):
        task_id = uuid.uuid4().hex
        ids.append(task_id)
        await submit_until_accepted(scene, seconds, task_id)
        await asyncio.sleep(pause)


def gdw_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "gdw_core.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


async def test_redis_kill_9_and_aof_restart_everyone_reconnects(aof_scene: Scene) -> None:
    scene = aof_scene
    for _ in range(2):
        scene.workers.spawn(concurrency=4)
    await scene.workers_registered(2)
    ids: list[str] = []
    producer = asyncio.create_task(produce(scene, ids, 0.3, 150, 0.02))
    await wait_for(lambda: _some_running(scene), 20, "tasks to be running")
    await asyncio.sleep(0.5)
    scene.redis.kill9()
    down_at = time.monotonic()
    # meanwhile the CLI says so: one line, exit code 3
    loop = asyncio.get_running_loop()
    for args in (("ls",), ("status", ids[0]), ("stats",)):
        started = time.monotonic()
        out = await loop.run_in_executor(None, lambda a=args: gdw_cli(*a, "--redis", scene.redis.url))
        took = time.monotonic() - started
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 3, (args, out.returncode, out.stderr)
        assert len(lines) == 1 and "cannot reach Redis" in lines[0], (args, out.stderr)
        assert took < 30, f"gdw {args[0]} took {took:.1f}s to report the outage"
    await asyncio.sleep(max(0.0, 2 * LEASE - (time.monotonic() - down_at)))  # down longer than a lease
    scene.redis.restart()
    # once the recoverer has had a lease to notice: whatever is running holds a live lease
    await asyncio.sleep(LEASE + 1.0)
    await check_leases(scene.storage)
    await asyncio.wait_for(producer, 120)
    assert all(w.alive() for w in scene.workers.all), "workers survive the outage"
    await scene.all_terminal(60)
    await check(scene.storage, ids, scene.log_dir, scene.tail)
    for w in scene.workers.all:  # each says so in its log, and that it is back
        assert "unreachable" in w.output() and "reachable again" in w.output(), w.output()[-2000:]


async def _some_running(scene: Scene) -> bool:
    return (await scene.storage.counts())[S.RUNNING] > 0  # started, not just claimed


async def _stall_and_resume(scene: Scene, freeze: str) -> None:
    for _ in range(2):
        scene.workers.spawn(concurrency=4)
    await scene.workers_registered(2)
    ids = await scene.producer.submit_many(WORK, [(0.4,) for _ in range(60)])
    await wait_for(lambda: _some_running(scene), 20, "tasks to be running")
    stall = 3 * LEASE
    if freeze == "sigstop":
        scene.redis.signal(signal.SIGSTOP)
    else:
        assert scene.redis.cli("client", "pause", str(int(stall * 1000)), "all") == "OK"
    started = time.monotonic()
    # a producer call made during the stall is held, not failed, and returns once Redis is back
    late = asyncio.create_task(scene.producer.submit(WORK, 0.0))
    await asyncio.sleep(stall)
    if freeze == "sigstop":
        scene.redis.signal(signal.SIGCONT)
    ids.append(await asyncio.wait_for(late, 30))
    waited = time.monotonic() - started
    assert waited < stall + 15, f"a submit during a {stall}s stall took {waited:.1f}s"
    await scene.all_terminal(60)
    out = await check(scene.storage, ids, scene.log_dir, scene.tail)
    assert all(w.alive() for w in scene.workers.all)
    recovered = [r for r in out.records.values() if any(e.type == "LeaseExpired" for e in r.errors)]
    print(f"stall ({freeze}) {stall}s: {len(recovered)} leases expired meanwhile; the submit took {waited:.1f}s")


async def test_redis_sigstop_longer_than_the_lease(scene: Scene) -> None:
    await _stall_and_resume(scene, "sigstop")


async def test_redis_client_pause_longer_than_the_lease(scene: Scene) -> None:
    await _stall_and_resume(scene, "pause")


async def test_client_kill_drops_connections_claims_resume_acks_retried(scene: Scene) -> None:
    for _ in range(2):
        scene.workers.spawn(concurrency=4)
    await scene.workers_registered(2)
    ids: list[str] = []
    producer = asyncio.create_task(produce(scene, ids, 0.02, 400, 0.005))
    kills = 0
    while not producer.done():
        await asyncio.sleep(0.25)
        scene.redis.cli("client", "kill", "type", "normal")
        kills += 1
    await producer
    await scene.all_terminal(60)
    # now idle: both workers are blocked in their claim; drop them there, then give them work
    await asyncio.sleep(1.0)
    scene.redis.cli("client", "kill", "type", "normal")
    late = [uuid.uuid4().hex for _ in range(20)]
    for task_id in late:
        await submit_until_accepted(scene, 0.0, task_id)
    ids += late
    await scene.all_terminal(30)
    await check(scene.storage, ids, scene.log_dir, scene.tail)
    assert await check_leases(scene.storage) == 0
    assert all(w.alive() for w in scene.workers.all)
    print(f"client kill: {kills} rounds over {len(ids)} tasks")
