"""Recurring entries live in Redis; with several schedulers each tick is enqueued exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

from gdw_core.recurring import RecurringEntry, tick_id
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer


async def test_three_schedulers_enqueue_each_tick_once(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    schedulers = [RedisStorage.from_url(redis_server.url) for _ in range(3)]
    for s in schedulers:
        await s.open()
    try:
        now = await schedulers[0].now()
        entry = RecurringEntry(
            id="every", name="proc_tasks:quick", args=[1], interval=0.05, next_run=now, allow_overlap=True
        )
        await schedulers[0].add_recurring(entry)
        created: Counter[str] = Counter()

        async def run(s: RedisStorage) -> None:
            for _ in range(40):
                created.update(await s.fire_recurring())
                await asyncio.sleep(0.01)

        await asyncio.gather(*(run(s) for s in schedulers))
        assert created and max(created.values()) == 1
        ids = {t.id for t in await schedulers[0].list_tasks("pending", limit=1000)}
        assert ids == set(created)
        assert all(i.startswith("every@") for i in ids)
        [stored] = await schedulers[1].recurring()
        assert stored.last_task_id in ids and stored.next_run > now
        assert tick_id("every", now) in ids
    finally:
        for s in schedulers:
            await s.close()


async def test_cron_entry_and_removal(redis_storage: RedisStorage) -> None:
    s = redis_storage
    now = await s.now()
    entry = RecurringEntry(id="cron", name="proc_tasks:quick", cron="* * * * *", next_run=now - 1)
    assert await s.add_recurring(entry)
    [fired] = await s.fire_recurring()
    assert fired == tick_id("cron", now - 1)
    assert await s.fire_recurring() == []  # the next minute is not due yet
    [stored] = await s.recurring()
    assert stored.next_run > now and stored.next_run % 60 == 0
    assert await s.remove_recurring("cron")
    assert await s.recurring() == []
