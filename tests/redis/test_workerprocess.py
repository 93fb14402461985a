"""The worker process (``run_worker``, behind ``gdw worker``) as real processes on a real Redis:
burst, bad modules, graceful SIGTERM, shutdown command, and kill -9 in the middle of a drain."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

from gdw_core import RetryPolicy, TaskQueue
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.redis.conftest import spawn_worker
from tests.support.redis_server import RedisServer

S = TaskStatus


async def wait_exit(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, proc.wait, timeout)


async def wait_until(predicate, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def log_of(task_dir: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(task_dir.glob("worker-*.log")))


async def test_burst_runs_a_mixed_workload_and_exits(
    redis_storage: RedisStorage, redis_server: RedisServer, task_dir: Path
) -> None:
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    quick = await producer.submit_many("proc_tasks:quick", [(i,) for i in range(50)])
    add = await producer.submit("proc_tasks:sync_add", 2, 3)
    boom = await producer.options(retry=RetryPolicy(max_retries=1, base_delay=0.05)).submit("proc_tasks:boom")
    stranger = await producer.submit("os:system", "echo pwned")  # not in the allowlist
    worker = spawn_worker(redis_server.url, task_dir, concurrency=4, burst=True, lease=5.0)
    assert await wait_exit(worker) == 0, log_of(task_dir)
    assert [(await producer.result(t)) for t in quick] == [i * 2 for i in range(50)]
    assert await producer.result(add) == 5
    failed = await producer.status(boom)
    assert failed.status is S.FAILED and failed.attempts == 2 and failed.errors[-1].type == "ValueError"
    refused = await producer.status(stranger)
    assert refused.status is S.FAILED and refused.errors[-1].type == "UnknownTask"


async def test_a_module_that_fails_to_import_exits_2(redis_server: RedisServer, task_dir: Path) -> None:
    (task_dir / "broken_tasks.py").write_text("raise RuntimeError('cannot load')\n")
    worker = spawn_worker(redis_server.url, task_dir, modules=["broken_tasks"])
    assert await wait_exit(worker) == 2
    assert "broken_tasks" in log_of(task_dir) and "cannot load" in log_of(task_dir)
    missing = spawn_worker(redis_server.url, task_dir, modules=["no_such_module"])
    assert await wait_exit(missing) == 2


async def test_sigterm_is_graceful_and_hands_back_unfinished_work(
    redis_storage: RedisStorage, redis_server: RedisServer, task_dir: Path
) -> None:
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    long = await producer.submit("proc_tasks:sleepy", 30)
    short = await producer.submit("proc_tasks:sleepy", 0.3)
    worker = spawn_worker(redis_server.url, task_dir, concurrency=2, shutdown_timeout=1.0)

    async def both_running() -> bool:
        counts = await redis_storage.counts()
        return counts[S.CLAIMED] + counts[S.RUNNING] == 2  # running once the worker marks the start

    await wait_until(both_running)
    worker.send_signal(signal.SIGTERM)
    assert await wait_exit(worker) == 0, log_of(task_dir)
    assert (await producer.status(short)).status is S.COMPLETED  # finished within the timeout
    handed_back = await producer.status(long)
    assert handed_back.status in (S.RETRYING, S.PENDING)
    # a graceful drain never spends an attempt (semantics 5)
    assert handed_back.attempts == 0
    assert not handed_back.errors or handed_back.errors[-1].counted is False
    [gone] = await redis_storage.workers()  # it said goodbye: kept as history, stopped
    assert gone.state == "stopped" and gone.held == []


async def test_shutdown_command_through_redis(
    redis_storage: RedisStorage, redis_server: RedisServer, task_dir: Path
) -> None:
    worker = spawn_worker(redis_server.url, task_dir, concurrency=1)

    async def registered() -> bool:
        return bool(await redis_storage.workers())

    await wait_until(registered)
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    await producer.control.shutdown(timeout=5)
    assert await wait_exit(worker) == 0, log_of(task_dir)


async def test_kill_9_midway_loses_nothing(
    redis_storage: RedisStorage, redis_server: RedisServer, task_dir: Path
) -> None:
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    ids = await producer.submit_many("proc_tasks:sleepy", [(0.2, i) for i in range(40)])
    victim = spawn_worker(redis_server.url, task_dir, concurrency=4, lease=1.0)
    survivor = spawn_worker(redis_server.url, task_dir, concurrency=4, lease=1.0)

    async def victim_busy() -> bool:
        return any(w.pid == victim.pid and w.busy for w in await redis_storage.workers())

    await wait_until(victim_busy)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    records = [await producer.wait(t, timeout=60) for t in ids]
    assert all(r.status is S.COMPLETED for r in records)
    recovered = [r for r in records if any(e.type == "LeaseExpired" for e in r.errors)]
    assert recovered, "the killed worker held tasks; they must have been recovered"
    assert all(r.attempts == 2 and r.result == survivor.pid for r in recovered)
    survivor.send_signal(signal.SIGTERM)
    assert await wait_exit(survivor) == 0, log_of(task_dir)
