"""Opening needs no script permission (scripts load lazily, on NOSCRIPT); promote_due reports
the next recurring tick too."""

from __future__ import annotations

from gdw_core.record import TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer


async def test_a_read_only_user_opens_and_reads(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    await redis_storage.enqueue([TaskRecord(id="a", name="m:f")])
    redis_server.cli("acl", "setuser", "ro", "on", ">ropw", "~*", "+@read", "+@connection", "+time")
    reader = RedisStorage.from_url(f"redis://ro:ropw@127.0.0.1:{redis_server.port}/0")
    await reader.open()
    try:
        assert (await reader.counts())[TaskStatus.PENDING] == 1
        assert [q.name for q in await reader.queues()] == ["default"]
        got = await reader.get("a")
        assert got is not None and got.status is TaskStatus.PENDING
    finally:
        await reader.close()


async def test_scripts_load_on_first_noscript(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    redis_server.cli("script", "flush")
    assert await redis_storage.enqueue([TaskRecord(id="b", name="m:f")]) == [True]


async def test_promote_due_includes_the_next_recurring_tick(redis_storage: RedisStorage) -> None:
    s = redis_storage
    now = await s.now()
    await s.enqueue([TaskRecord(id="later", name="m:f", status=TaskStatus.SCHEDULED, delay=3600)])
    entry = RecurringEntry(id="tick", name="m:f", interval=0.5, queue="default", next_run=now + 60)
    await s.add_recurring(entry)
    nxt = await s.promote_due()
    assert nxt is not None and abs(nxt - (now + 60)) < 1
