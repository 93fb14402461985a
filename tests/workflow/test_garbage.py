"""Adversarial: a workflow child whose stored record is garbage never costs its parent's ack (or
the other acks of the batch): the parent completes, the garbage child fails or is settled alone."""

from __future__ import annotations

from gdw_core.storage.protocol import Ack
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer
from tests.workflow.nodes import S, claim, get, node, status


async def test_garbage_children_do_not_stop_the_batch(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        a, b = node(), node()
        bad_counter = node(a.id)
        not_a_hash = node(a.id)
        fine = node(a.id, b.id, takes="list", feeds=2)
        await s.enqueue_workflow([a, b, bad_counter, not_a_hash, fine])
        prefix = s.keys.prefix("default")
        await s.client.hset(prefix + "t:" + bad_counter.id, "wait", "garbage")
        await s.client.delete(prefix + "t:" + not_a_hash.id)
        await s.client.set(prefix + "t:" + not_a_hash.id, "not a hash")
        la, lb = await claim(s, a.id), await claim(s, b.id)
        assert await s.complete([Ack(a.id, la.token, 1), Ack(b.id, lb.token, 2)]) == [True, True]
        assert await status(s, a.id) is S.COMPLETED and await status(s, b.id) is S.COMPLETED
        assert await status(s, bad_counter.id) is S.PENDING  # its parents were counted afresh
        assert (await claim(s, fine.id)).task.args == [[1, 2]]
        assert (await get(s, not_a_hash.id)).name == "?"  # shown as unreadable, alone
    finally:
        await s.close()
