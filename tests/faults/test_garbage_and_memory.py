"""Garbage written straight into Redis where a worker will claim it (13), and Redis out of memory
(14): each garbage task fails with a recorded error, nothing is imported or run, workers go on;
a full Redis is a clear error for the producer and costs no task."""

from __future__ import annotations

import asyncio
import json
import os

import redis.asyncio as aioredis

from gdw_core import GdwError, RetryPolicy
from gdw_core.status import TaskStatus
from tests.faults.checker import check, read_log
from tests.faults.conftest import Scene, close_scene, make_scene
from tests.faults.harness import FaultRedis, wait_for

S = TaskStatus
WORK = "tests.faults.fault_tasks:work"
BLOB = "tests.faults.fault_tasks:blob"
NO_RETRY = RetryPolicy(max_retries=0).to_dict()


def payload(name: str, args: object = (), kwargs: object = None, **more: object) -> str:
    d = {"name": name, "args": list(args) if isinstance(args, tuple) else args, "kwargs": kwargs or {}}
    # no retries: a garbage task that does reach a function fails at its first attempt
    d.update({"queue": "default", "priority": 0, "max_retries": 0, "retry": NO_RETRY, "timeout": None})
    d.update(more)
    return json.dumps(d)


async def plant(raw: aioredis.Redis, scene: Scene, task_id: str, d: bytes | str, name: str) -> None:
    """A task record written by hand, the way the enqueue script lays it out, ready to be claimed."""
    keys = scene.storage.keys
    now = await scene.storage.now()
    await raw.hset(
        keys.task("default", task_id),
        mapping={"d": d, "n": name, "st": "pending", "pri": 0, "mx": 0, "cr": f"{now:.6f}", "run": f"{now:.6f}"},
    )
    await raw.zadd(keys.index("default", "pending"), {task_id: 0})
    await raw.rpush(keys.prefix("default") + "wake", "1")


async def test_garbage_in_redis_fails_cleanly_and_runs_nothing(scene: Scene) -> None:
    workers = [scene.workers.spawn(concurrency=4) for _ in range(2)]
    await scene.workers_registered(2)
    before = await scene.producer.submit_many(WORK, [(0.0,) for _ in range(20)])  # registers the queue
    await scene.all_terminal(20)
    marker = scene.log_dir / "os-system-ran"
    valid = payload(WORK, (0.0,))
    garbage = {
        "random-bytes": (os.urandom(512), WORK),
        "truncated-json": (valid[: len(valid) // 2], WORK),
        "not-an-object": ("[1, 2, 3]", WORK),
        "wrong-types": (payload(WORK, {"a": 1}), WORK),
        "huge-50mb": (payload(WORK, (), {"junk": "x" * (50 * 1024 * 1024)}), WORK),
        "unknown-name": (payload("tests.faults.fault_tasks:nope"), "tests.faults.fault_tasks:nope"),
        "os-system": (payload("os:system", (f"touch {marker}",)), "os:system"),
        "not-imported": (payload("tests.faults.tripwire:run"), "tests.faults.tripwire:run"),
        "eval-name": (payload("__import__('os').system('id')"), "__import__('os').system('id')"),
        "empty-name": (payload(""), ""),
    }
    raw = aioredis.Redis.from_url(scene.redis.url)  # bytes in, bytes out
    try:
        for task_id, (d, name) in garbage.items():
            await plant(raw, scene, task_id, d, name)
    finally:
        await raw.aclose()
    after = await scene.producer.submit_many(WORK, [(0.01,) for _ in range(50)])

    async def settled() -> bool:
        sts = [await scene.storage.client.hget(scene.storage.keys.task("default", t), "st") for t in garbage]
        return all(st == "failed" for st in sts)

    await wait_for(settled, 60, "every garbage task to be failed")
    await scene.all_terminal(30)
    for task_id in garbage:
        errs = await scene.storage.client.hget(scene.storage.keys.task("default", task_id), "errs")
        recorded = json.loads(errs)
        assert len(recorded) == 1, (task_id, recorded)
        assert recorded[0]["type"] in ("InvalidPayload", "UnknownTask", "TypeError"), (task_id, recorded)
        assert recorded[0]["message"], task_id
    assert not marker.exists(), "os:system ran"
    assert not (scene.log_dir / "tripwire-imported").exists(), "a module was imported because a message named it"
    assert not [x for x in read_log(scene.log_dir) if x.task_id in garbage], "a garbage task's body ran"
    assert all(w.alive() for w in workers), "workers keep running"
    await check(scene.storage, before + after, scene.log_dir, scene.tail, once=True)


async def test_out_of_memory_is_a_clear_error_and_costs_no_task(tmp_path) -> None:  # type: ignore[no-untyped-def]
    scene = await make_scene(tmp_path, FaultRedis("--maxmemory", "6mb", "--maxmemory-policy", "noeviction").start())
    try:
        accepted: list[str] = []
        with_error = None
        for _ in range(2000):
            try:
                accepted.append(await scene.producer.submit(BLOB, "x" * 50_000))
            except GdwError as exc:
                with_error = exc
                break
        assert with_error is not None, "Redis never filled up"
        assert "out of memory" in str(with_error) and "maxmemory" in str(with_error), str(with_error)
        assert len(accepted) > 10
        worker = scene.workers.spawn(concurrency=4)
        await asyncio.sleep(3.0)  # it runs against a full Redis for a while: stays up, keeps trying
        assert worker.alive(), worker.output()[-2000:]
        assert "out of memory" in worker.output(), "the worker met the full Redis (and said so)"
        scene.redis.cli("config", "set", "maxmemory", "0")
        await scene.all_terminal(60)
        await check(scene.storage, accepted, scene.log_dir, scene.tail)
    finally:
        await close_scene(scene)


async def test_a_worker_warns_when_redis_may_evict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    scene = await make_scene(tmp_path, FaultRedis("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru").start())
    try:
        worker = scene.workers.spawn(concurrency=1)
        await scene.workers_registered(1)

        async def warned() -> bool:
            return "maxmemory-policy is 'allkeys-lru'" in worker.output()

        await wait_for(warned, 10, "the eviction warning")
        assert "noeviction" in worker.output()
    finally:
        await close_scene(scene)
