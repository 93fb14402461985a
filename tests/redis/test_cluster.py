"""Redis Cluster (3 primaries started on loopback): a user moves to Cluster by URL alone."""

from __future__ import annotations

from gdw_core import TaskQueue, task
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisCluster


@task
async def double(n: int) -> int:
    return n * 2


async def test_queues_spread_over_slots_and_a_queue_round_trip(redis_cluster: RedisCluster) -> None:
    redis_cluster.flushall()
    queues = ["default", "emails", "images", "reports"]
    storage = RedisStorage.from_url(redis_cluster.url)
    assert storage.address.startswith("redis+cluster://")
    async with TaskQueue(worker_count=4, storage=storage, queues=queues, tasks=[double]) as queue:
        ids = []
        for i, name in enumerate(queues):
            ids += await queue.options(queue=name).submit_many(double, [(i * 10 + j,) for j in range(5)])
        results = [await queue.result(t, timeout=30) for t in ids]
        assert results == [(i * 10 + j) * 2 for i in range(len(queues)) for j in range(5)]
        counts = await queue.inspect.counts()
        assert counts[TaskStatus.COMPLETED] == 20
        assert {q.name for q in await queue.inspect.queues()} == set(queues)
    nodes = set()
    for name in queues:
        key = storage.keys.prefix(name) + "c"
        nodes.add(redis_cluster.servers[0].cli("cluster", "keyslot", key))
    assert len(nodes) > 1  # the queues really live in different slots
