"""Driving workflow nodes through a storage by hand, as a worker would (claim, complete, fail)."""

from __future__ import annotations

import uuid
from typing import Any

from gdw_core import AttemptError, TaskRecord, TaskStatus
from gdw_core.storage.protocol import Ack, Lease, Storage

W = "worker-a"
S = TaskStatus


def node(*parents: str, takes: str = "", feeds: int = 0, queue: str = "default", **kw: Any) -> TaskRecord:
    """A workflow node record waiting for ``parents`` (the first ``feeds`` feed it results)."""
    kw.setdefault("id", "n-" + uuid.uuid4().hex[:12])
    kw.setdefault("name", "demo_tasks:fast")
    return TaskRecord(queue=queue, parents=list(parents), takes=takes, feeds=feeds, workflow="wf-test", **kw)


async def get(storage: Storage, task_id: str) -> TaskRecord:
    got = await storage.get(task_id)
    assert got is not None, task_id
    return got


async def status(storage: Storage, task_id: str) -> TaskStatus:
    return (await get(storage, task_id)).status


async def claim(storage: Storage, task_id: str, queue: str = "default") -> Lease:
    """Claim pending tasks until ``task_id`` is among them (others are given back)."""
    for _ in range(50):
        leases = await storage.claim(W, [queue], 100, 30.0, 0.2)
        found = None
        for lease in leases:
            if lease.task.id == task_id:
                found = lease
            else:
                assert await storage.release(lease.task.id, lease.token, None)
        if found is not None:
            return found
    raise AssertionError(f"{task_id} was never claimable")


async def run(storage: Storage, task_id: str, result: Any = None, queue: str = "default") -> Lease:
    lease = await claim(storage, task_id, queue)
    assert await storage.complete([Ack(task_id, lease.token, result)]) == [True]
    return lease


async def fail(storage: Storage, task_id: str, queue: str = "default") -> None:
    lease = await claim(storage, task_id, queue)
    error = AttemptError(lease.task.attempts, "ValueError", "boom", "", 0.0, W)
    assert await storage.fail(task_id, lease.token, error, None) is S.FAILED
