"""RedisStorage against a real redis-server: leases and fencing, recovery, priorities, pause,
cancel, heartbeats, bad payloads, retention, errors."""

from __future__ import annotations

import asyncio

import pytest

from gdw_core import GdwError, InvalidTask, StorageUnavailable, TaskQueue
from gdw_core.lifecycle import WORKER_HISTORY_SECONDS
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Ack, Command, Retention, Start
from gdw_core.storage.redis import RedisStorage
from gdw_core.workerinfo import WorkerInfo
from tests.support.redis_server import RedisServer, free_port

S = TaskStatus


def rec(task_id: str, **kw: object) -> TaskRecord:
    return TaskRecord(id=task_id, name="proc_tasks:quick", args=[1], **kw)  # type: ignore[arg-type]


def err() -> AttemptError:
    return AttemptError(1, "ValueError", "x", "", 0.0, "w")


async def test_stale_token_cannot_overwrite_the_new_owner(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("t1")])
    [first] = await s.claim("frozen", ["default"], 1, 0.05, 0)
    await asyncio.sleep(0.1)  # the lease runs out while "frozen" is frozen
    assert await s.recover_expired() == ["t1"]
    await s.promote_due()
    [second] = await s.claim("fresh", ["default"], 1, 30, 0)
    assert second.token > first.token and second.task.attempts == 2
    assert await s.complete([Ack("t1", first.token, "stale")]) == [False]
    assert await s.fail("t1", first.token, err(), None) is None
    assert not await s.release("t1", first.token, None)
    assert not await s.progress("t1", first.token, 50)
    beat = await s.heartbeat(WorkerInfo("frozen", "h", 1, ["default"], 1), {"t1": first.token}, 30)
    assert beat.lost == {"t1"}
    assert await s.complete([Ack("t1", second.token, "fresh")]) == [True]
    done = await s.get("t1")
    assert done is not None and done.result == "fresh" and done.status is S.COMPLETED
    assert [e.type for e in done.errors] == ["LeaseExpired"]


async def test_poison_task_fails_after_its_attempts(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("p", max_retries=1)])
    for _ in range(2):
        await s.promote_due()
        assert await s.claim("w", ["default"], 1, 0.02, 0.5)
        await asyncio.sleep(0.05)
        await s.recover_expired()
    got = await s.get("p")
    assert got is not None and got.status is S.FAILED and got.attempts == 2


async def test_priorities_then_fifo_and_several_queues(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("low1"), rec("hi", priority=5), rec("low2"), rec("other", queue="emails")])
    leases = await s.claim("w", ["default", "emails"], 10, 30, 0)
    assert [lz.task.id for lz in leases] == ["hi", "low1", "low2", "other"]


async def test_idempotent_submit_with_a_task_id(redis_storage: RedisStorage) -> None:
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    first = await producer.options(task_id="once", if_exists="skip").submit("proc_tasks:quick", 1)
    again = await producer.options(task_id="once", if_exists="skip").submit("proc_tasks:quick", 2)
    assert first == again == "once"
    assert (await redis_storage.counts())[S.PENDING] == 1
    got = await redis_storage.get("once")
    assert got is not None and got.args == [1]


async def test_local_callables_are_refused(redis_storage: RedisStorage) -> None:
    producer = TaskQueue(worker_count=0, storage=redis_storage)
    with pytest.raises(InvalidTask, match="lambda"):
        await producer.submit(lambda: 1)


async def test_pause_blocks_claims_and_is_reported(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("a")])
    await s.set_paused("default", True)
    assert await s.claim("w", ["default"], 1, 30, 0.05) == []
    beat = await s.heartbeat(WorkerInfo("w", "h", 1, ["default"], 1), {}, 30)
    assert beat.paused == {"default"}
    await s.set_paused("default", False)
    assert len(await s.claim("w", ["default"], 1, 30, 0.5)) == 1


async def test_claim_blocks_until_work_arrives(redis_storage: RedisStorage) -> None:
    s = redis_storage
    waiter = asyncio.create_task(s.claim("w", ["default"], 1, 30, 10))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await s.enqueue([rec("late")])
    leases = await asyncio.wait_for(waiter, 5)  # woken by the enqueue, not by a poll
    assert [lz.task.id for lz in leases] == ["late"]


async def test_cancel_running_and_commands_reach_the_worker(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("r")])
    [lease] = await s.claim("w", ["default"], 1, 30, 0)
    assert await s.start([Start("r", lease.token)]) == [True]
    info = WorkerInfo("w", "h", 1, ["default"], 1, started_at=1.0)
    await s.heartbeat(info, {"r": lease.token}, 30)
    assert await s.cancel("r") is S.RUNNING
    await s.send_command(Command("shutdown", "w", 5.0))
    await s.send_command(Command("shutdown", "someone-else"))
    beat = await s.heartbeat(info, {"r": lease.token}, 30)
    assert beat.cancel == {"r"} and [c.kind for c in beat.commands] == ["shutdown"]
    assert (await s.heartbeat(info, {"r": lease.token}, 30)).commands == ()  # delivered once
    assert await s.cancel_running("r", lease.token, err())
    got = await s.get("r")
    assert got is not None and got.status is S.CANCELLED


async def test_worker_records_expire_and_are_listed(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    s = redis_storage
    info = WorkerInfo("w1", "host", 42, ["default"], 4, busy=2, processed=7)
    await s.heartbeat(info, {}, 30)
    [listed] = await s.workers()
    assert (listed.id, listed.pid, listed.busy, listed.processed) == ("w1", 42, 2, 7)
    assert listed.last_seen > 0
    # kept as history well after it stops beating (semantics 9), bounded by the history window
    assert 60_000 < int(redis_server.cli("pttl", s.keys.worker("w1"))) <= WORKER_HISTORY_SECONDS * 1000
    await s.remove_worker("w1")
    [stopped] = await s.workers()
    assert (stopped.id, stopped.state, stopped.busy, stopped.held) == ("w1", "stopped", 0, [])
    redis_server.cli("del", s.keys.worker("w1"))  # as if it expired: beyond the history window
    assert await s.workers() == []


async def test_garbage_payloads_fail_that_task_only(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    s = redis_storage
    await s.enqueue([rec("bad-json"), rec("bad-types"), rec("good")])
    redis_server.cli("hset", s.keys.task("default", "bad-json"), "d", "{not json")
    redis_server.cli("hset", s.keys.task("default", "bad-types"), "d", '{"name": "m:f", "args": {"a": 1}}')
    redis_server.cli("zadd", s.keys.index("default", "pending"), "-1", "ghost")  # no record at all
    leases = await s.claim("w", ["default"], 10, 30, 0)
    assert [lz.task.id for lz in leases] == ["good"]
    for task_id in ("bad-json", "bad-types"):
        got = await s.get(task_id)
        assert got is not None and got.status is S.FAILED
        assert got.errors[-1].type == "InvalidPayload"


async def test_unknown_task_name_fails_cleanly_in_a_worker(redis_storage: RedisStorage) -> None:
    async with TaskQueue(worker_count=2, storage=redis_storage) as queue:
        task_id = await queue.submit("nowhere:nothing")
        done = await queue.wait(task_id, timeout=10)
    assert done.status is S.FAILED and done.errors[-1].type == "UnknownTask"


async def test_retention_keeps_memory_flat(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url, retention=Retention(completed_count=50, events=100))
    await s.open()
    try:
        sizes = []
        for round_ in range(6):
            await s.enqueue([rec(f"r{round_}-{i}") for i in range(200)])
            leases = await s.claim("w", ["default"], 200, 30, 0)
            assert await s.complete([Ack(lz.task.id, lz.token, "x" * 100) for lz in leases]) == [True] * 200
            sizes.append(int(redis_server.cli("dbsize")))
            assert int(redis_server.cli("zcard", s.keys.index("default", "completed"))) == 50
        assert sizes[-1] == sizes[1]  # no growth once retention kicks in
        assert int(redis_server.cli("xlen", s.keys.prefix("default") + "ev")) < 400
    finally:
        await s.close()


async def test_retention_in_one_batch_keeps_the_last_acked(redis_server: RedisServer) -> None:
    """complete.lua trims the completed index once per call: the records kept are the newest ones,
    the same as trimming after every task, and the others are deleted."""
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url, retention=Retention(completed_count=5))
    await s.open()
    try:
        await s.enqueue([rec(f"b{i}") for i in range(12)])
        leases = await s.claim("w", ["default"], 12, 30, 0)
        assert await s.complete([Ack(lz.task.id, lz.token, i) for i, lz in enumerate(leases)]) == [True] * 12
        kept = [await s.get(lz.task.id) for lz in leases]
        assert [r is not None for r in kept] == [False] * 7 + [True] * 5
        assert [r.result for r in kept[7:] if r is not None] == [7, 8, 9, 10, 11]
        assert int(redis_server.cli("zcard", s.keys.index("default", "completed"))) == 5
    finally:
        await s.close()


async def test_ttl_retention_purges_old_results(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url, retention=Retention(completed_ttl=0.05))
    await s.open()
    try:
        await s.enqueue([rec("old")])
        [lease] = await s.claim("w", ["default"], 1, 30, 0)
        await s.complete([Ack("old", lease.token, 1)])
        await asyncio.sleep(0.1)
        assert await s.purge_expired() == 1
        assert await s.get("old") is None
    finally:
        await s.close()


async def test_unreachable_redis_names_its_address() -> None:
    s = RedisStorage.from_url(f"redis://:hunter2@127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    with pytest.raises(StorageUnavailable) as info:
        await s.open()
    assert "127.0.0.1" in str(info.value) and "hunter2" not in str(info.value)
    assert "hunter2" not in s.address


async def test_password_and_acl_users() -> None:
    with RedisServer(password="s3cret") as server:
        server.cli("acl", "setuser", "app", "on", ">apppw", "~*", "&*", "+@all")
        for url in (server.url, f"redis://app:apppw@127.0.0.1:{server.port}/0", f"127.0.0.1:{server.port}"):
            s = RedisStorage.from_url(url)
            if url.startswith("127."):
                with pytest.raises(GdwError):  # no password: refused, with a clear error
                    await s.open()
                continue
            await s.open()
            try:
                assert await s.enqueue([rec("x")]) in ([True], [False])
                assert "s3cret" not in s.address and "apppw" not in s.address
            finally:
                await s.close()


async def test_out_of_memory_is_a_clear_error() -> None:
    with RedisServer("--maxmemory", "3mb", "--maxmemory-policy", "noeviction") as server:
        s = RedisStorage.from_url(server.url)
        await s.open()
        try:
            with pytest.raises(GdwError, match="out of memory"):
                for i in range(2000):
                    await s.enqueue([TaskRecord(id=f"big{i}", name="m:f", args=["x" * 10_000])])
            assert await s.eviction_policy() == "noeviction"
        finally:
            await s.close()


async def test_unix_socket_url(tmp_path: object) -> None:
    import tempfile
    from pathlib import Path

    sock = Path(tempfile.mkdtemp(prefix="gdw-sock-")) / "redis.sock"
    with RedisServer("--unixsocket", str(sock), "--unixsocketperm", "700") as server:
        assert server.port
        s = RedisStorage.from_url(f"unix://{sock}")
        await s.open()
        try:
            assert s.address == f"unix://{sock}"
            assert await s.enqueue([rec("u")]) == [True]
            [lease] = await s.claim("w", ["default"], 1, 30, 1)
            assert await s.complete([Ack("u", lease.token, 7)]) == [True]
        finally:
            await s.close()
