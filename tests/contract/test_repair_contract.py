"""``Storage.repair`` on every backend (the ``storage`` fixture): a healthy queue needs nothing; on
Redis (a single server and Cluster, where the walk of the queue's records must find the node that
holds the queue's slot) a status index overwritten with a string is moved aside and its tasks are
claimable again. Memory cannot hold garbage: its repair finds nothing."""

from __future__ import annotations

from gdw_core import TaskStatus
from gdw_core.control import Controller
from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import Storage
from tests.contract.records import W, rec

S = TaskStatus


async def test_a_healthy_queue_needs_no_repair(storage: Storage) -> None:
    await storage.enqueue([rec(), rec(), rec(queue="other")])
    [lease] = await storage.claim(W, ["default"], 1, 30.0, 0.5)
    for dry_run in (True, False):
        report = await Controller(storage).repair(dry_run=dry_run)
        assert report.dry_run is dry_run and not report.changed and not report.failed_queues
        assert sorted(q.queue for q in report.queues) == ["default", "other"]
        assert all(q.garbage_count == 0 for q in report.queues)
    assert (await storage.get(lease.task.id)) is not None
    assert len(await storage.claim(W, ["default", "other"], 5, 30.0, 0.5)) == 2


async def test_an_overwritten_pending_index_is_moved_aside_and_its_tasks_claimed_again(storage: Storage) -> None:
    records = [rec() for _ in range(7)]
    await storage.enqueue(records)
    if isinstance(storage, MemoryStorage):  # nothing can overwrite an index in memory
        assert not (await storage.repair("default")).changed
        return
    from gdw_core.storage.redis import RedisStorage

    assert isinstance(storage, RedisStorage)
    key = storage.keys.index("default", "pending")
    await storage.client.delete(key)
    await storage.client.set(key, "garbage")

    q = await storage.repair("default")

    assert [m.status for m in q.moved_aside] == [S.PENDING] and q.reindexed == {S.PENDING: 7}
    assert q.records == 7
    assert await storage.client.get(q.moved_aside[0].to) == "garbage"
    leases = await storage.claim(W, ["default"], 10, 30.0, 0.5)
    assert sorted(lz.task.id for lz in leases) == sorted(r.id for r in records)
