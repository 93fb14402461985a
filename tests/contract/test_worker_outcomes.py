"""A result that cannot be stored fails only its own task, for good, the same way on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

from gdw_core.queue import TaskQueue
from gdw_core.registry import task
from gdw_core.status import TaskStatus as S
from gdw_core.storage.protocol import Storage


@task(name="tests.contract.test_worker_outcomes:echo")
async def echo(n: int) -> int:
    return n


@task(name="tests.contract.test_worker_outcomes:bad_result")
async def bad_result(kind: str) -> Any:
    if kind == "set":
        return {1, 2}
    if kind == "deep":
        value: Any = 1
        for _ in range(200):
            value = [value]
        return value
    if kind == "nan":
        return [float("nan")]
    return "x" * (600 * 1024)  # over the 512 KiB default


async def test_unstorable_results_fail_alone_with_a_reason(storage: Storage) -> None:
    q = TaskQueue(worker_count=4, storage=storage, tasks=[echo, bad_result], lease=5.0)
    async with q:
        good = [await q.submit(echo, i) for i in range(20)]
        bad = {k: await q.submit(bad_result, k) for k in ("set", "deep", "nan", "huge")}
        more = [await q.submit(echo, i) for i in range(20, 30)]
        for i, tid in enumerate(good + more):
            assert await q.result(tid, 10) == i
        for kind, tid in bad.items():
            rec = await q.wait(tid, 10)
            assert rec.status is S.FAILED, (kind, rec.status)
            assert rec.attempts == 1, kind  # for good: no retry of an unstorable result
            err = rec.errors[-1]
            assert err.type == "InvalidPayload"
            assert f"result of task {tid}" in err.message
        assert "not JSON-serialisable" in (await q.status(bad["set"])).errors[-1].message
        assert "levels deep" in (await q.status(bad["deep"])).errors[-1].message
        assert "over the limit" in (await q.status(bad["huge"])).errors[-1].message
        await asyncio.sleep(0)
    # the worker stopped cleanly: nothing left leased (the queue closed the storage on shutdown)
    await storage.open()
    counts = await storage.counts()
    assert counts.get(S.RUNNING, 0) == 0 and counts.get(S.CLAIMED, 0) == 0
