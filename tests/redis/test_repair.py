"""``Controller.repair`` on a real redis-server: a queue's status index overwritten with a key of
another type (or deleted by an operator, as gdw used to advise) strands the tasks it held; a repair
moves the garbage aside, puts every task back in the index of its status with that index's score,
and the tasks flow again (claimed, recovered, listed). Unreadable records are reported alone; a dry
run changes nothing; a second repair changes nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import redis

from gdw_core import TaskQueue, task
from gdw_core import repair as R
from gdw_core.control import Controller
from gdw_core.record import TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import Ack, Start
from gdw_core.storage.redis import RedisStorage
from tests.support.redis_server import RedisServer

S = TaskStatus


@task
async def double(n: int) -> int:
    return n * 2


def rec(task_id: str, **kw: Any) -> TaskRecord:
    return TaskRecord(id=task_id, name="tests.redis.test_repair:double", args=[1], **kw)


def break_index(server: RedisServer, s: RedisStorage, status: TaskStatus, how: str = "overwritten") -> None:
    """The queue's index of ``status`` replaced by a string (or deleted: the ids it held are gone)."""
    key = s.keys.index("default", status.value)
    server.cli("del", key)
    if how == "overwritten":
        server.cli("set", key, "garbage")


def snapshot(server: RedisServer) -> dict[str, Any]:
    """Every key of the database with its type, value (DUMP) and TTL."""
    r = redis.Redis(port=server.port)
    try:
        return {k: (r.type(k), r.dump(k), r.pttl(k)) for k in r.scan_iter(count=1000)}
    finally:
        r.close()


def score(server: RedisServer, s: RedisStorage, status: TaskStatus, task_id: str) -> str:
    return server.cli("zscore", s.keys.index("default", status.value), task_id)


async def drain(url: str, ids: list[str]) -> list[Any]:
    """A queue with workers (on its own connection) runs every task; their results."""
    async with TaskQueue(worker_count=4, storage=RedisStorage.from_url(url), tasks=[double]) as queue:
        return [await queue.result(task_id, timeout=30) for task_id in ids]


@pytest.mark.parametrize("how", ["overwritten", "deleted"])
async def test_a_broken_pending_index_is_repaired_and_every_waiting_task_completes(
    redis_storage: RedisStorage, redis_server: RedisServer, how: str
) -> None:
    s = redis_storage
    producer = TaskQueue(worker_count=0, storage=s)
    ids = await producer.submit_many(double, [(i,) for i in range(30)])
    break_index(redis_server, s, S.PENDING, how)
    if how == "overwritten":  # the queue is stuck: nothing can be claimed from it
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await s.claim("w", ["default"], 5, 30.0, 0.0)
    else:  # stranded: the records say pending, no index holds them
        assert await s.claim("w", ["default"], 5, 30.0, 0.0) == []

    report = await Controller(s).repair()

    [q] = report.queues
    assert q.queue == "default" and not report.failed_queues and q.garbage_count == 0
    assert q.reindexed == {S.PENDING: 30} and not q.unlisted
    if how == "overwritten":
        [moved] = q.moved_aside
        assert (moved.status, moved.key, moved.kind) == (S.PENDING, s.keys.index("default", "pending"), "string")
        assert moved.to.startswith(s.keys.prefix("default") + "quarantine:p:")  # the queue's hash tag
        assert redis_server.cli("get", moved.to) == "garbage"  # kept for forensics
    else:
        assert q.moved_aside == []
    assert await drain(redis_server.url, ids) == [2 * i for i in range(30)]


async def test_a_broken_claimed_index_gives_its_leases_back_to_lease_recovery(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """The claimed ids come back under their lease score, so lease recovery finds them once the
    leases expire, and another worker runs them."""
    s = redis_storage
    await s.enqueue([rec(f"c{i}") for i in range(6)])
    leases = await s.claim("crashed-worker", ["default"], 6, 1.0, 0.0)
    assert len(leases) == 6
    scores = {lz.task.id: score(redis_server, s, S.CLAIMED, lz.task.id) for lz in leases}
    break_index(redis_server, s, S.CLAIMED)

    report = await Controller(s).repair(["default"])

    assert report.queues[0].reindexed == {S.CLAIMED: 6}
    assert {i: score(redis_server, s, S.CLAIMED, i) for i in scores} == scores  # the lease deadlines
    await asyncio.sleep(1.2)  # the leases expire: the crashed worker never comes back
    assert sorted(await s.recover_expired()) == sorted(scores)
    assert await drain(redis_server.url, sorted(scores)) == [2] * 6
    for task_id in scores:
        got = await s.get(task_id)
        assert got is not None and got.attempts == 2 and got.errors[0].type == "LeaseExpired"


async def test_a_broken_completed_index_lists_its_tasks_again_and_stale_entries_are_taken_out(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    s = redis_storage
    ids = [f"d{i}" for i in range(5)]
    await s.enqueue([rec(i) for i in ids])
    for lease in await s.claim("w", ["default"], 5, 30.0, 0.0):  # one by one: distinct finish times
        assert await s.complete([Ack(lease.task.id, lease.token, lease.task.id)]) == [True]
    scores = {i: float(score(redis_server, s, S.COMPLETED, i)) for i in ids}
    newest_first = [t.id for t in await s.list_tasks(S.COMPLETED)]
    break_index(redis_server, s, S.COMPLETED)
    redis_server.cli("zadd", s.keys.index("default", "pending"), "1", "d0")  # a stale entry, by hand
    assert await s.list_tasks(S.COMPLETED) == []

    report = await Controller(s).repair()

    q = report.queues[0]
    assert q.reindexed == {S.COMPLETED: 5} and q.unlisted == {S.PENDING: 1}
    assert [t.id for t in await s.list_tasks(S.COMPLETED)] == newest_first
    for task_id, before in scores.items():  # by finish time (to the microsecond)
        assert float(score(redis_server, s, S.COMPLETED, task_id)) == pytest.approx(before, abs=1e-5)
    assert score(redis_server, s, S.PENDING, "d0") == ""
    assert (await s.counts("default"))[S.COMPLETED] == 5


def plant_garbage(server: RedisServer, s: RedisStorage) -> dict[str, str]:
    """Records that cannot be re-indexed, next to good ones; what each one's reason says."""

    def t(task_id: str) -> str:
        return s.keys.task("default", task_id)

    server.cli("set", t("junk"), "x")
    server.cli("hset", t("nostatus"), "n", "m:f")
    server.cli("hset", t("weird"), "st", "sideways", "n", "m:f")
    server.cli("hset", t("norun"), "st", "retrying", "n", "m:f")  # a retrying task without its run-at
    return {
        "junk": "a string key, not a task hash",
        "nostatus": "no status field",
        "weird": 'unknown status "sideways"',
        "norun": "run-at field (run) of a retrying task is missing",
    }


async def test_a_garbage_record_among_good_ones_is_reported_alone(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    s = redis_storage
    await s.enqueue([rec(f"g{i}") for i in range(10)])
    break_index(redis_server, s, S.PENDING)
    reasons = plant_garbage(redis_server, s)

    report = await Controller(s).repair()

    q = report.queues[0]
    assert q.reindexed == {S.PENDING: 10} and q.garbage_count == len(reasons) and report.garbage_count == 4
    said = {g.task_id: g.reason for g in q.garbage}
    assert said.keys() == reasons.keys()
    for task_id, reason in reasons.items():
        assert reason in said[task_id], (task_id, said[task_id])
    assert redis_server.cli("type", s.keys.task("default", "junk")) == "string"  # left as it is
    assert score(redis_server, s, S.RETRYING, "norun") == ""
    assert len(await s.claim("w", ["default"], 20, 30.0, 0.0)) == 10


async def test_fail_unreadable_fails_each_record_that_is_not_a_task_saying_why(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """With fail_unreadable, each record that cannot be read as a task ends failed with its reason
    (listed and purged like any failed task); a key that is not a hash is moved aside first, kept
    as it was; a record of a known status with a bad time field is still only reported; the good
    tasks are untouched, and a second repair has nothing to do."""
    s = redis_storage
    await s.enqueue([rec(f"g{i}") for i in range(5)])
    reasons = plant_garbage(redis_server, s)
    redis_server.cli("zadd", s.keys.index("default", "scheduled"), "1", "weird")  # a hand-made entry too

    dry = await Controller(s).repair(dry_run=True, fail_unreadable=True)
    assert {g.task_id for g in dry.queues[0].failed} == {"junk", "nostatus", "weird"}
    assert redis_server.cli("type", s.keys.task("default", "junk")) == "string"  # a dry run writes nothing
    assert score(redis_server, s, S.FAILED, "weird") == ""

    report = await Controller(s).repair(fail_unreadable=True)

    q = report.queues[0]
    said = {g.task_id: g.reason for g in q.failed}
    assert q.failed_count == 3 and said.keys() == {"junk", "nostatus", "weird"} and report.changed
    for task_id in said:
        assert reasons[task_id] in said[task_id], (task_id, said[task_id])
        got = await s.get(task_id)
        assert got is not None and got.status is S.FAILED, task_id
        # (the repair's error; reading a record without a payload adds what that read found)
        assert any(e.type == "InvalidPayload" and reasons[task_id] in e.message for e in got.errors), got.errors
        assert score(redis_server, s, S.FAILED, task_id) != ""
    bad = s.keys.prefix("default") + "bad:junk"
    assert redis_server.cli("get", bad) == "x" and bad in said["junk"]  # kept as it was, and said where
    assert score(redis_server, s, S.SCHEDULED, "weird") == ""  # (its hand-made entry is gone)
    assert [g.task_id for g in q.garbage] == ["norun"] and q.garbage_count == 1  # its status may be true
    assert (await s.get("norun")) is not None and score(redis_server, s, S.RETRYING, "norun") == ""
    listed = {r.id for r in await s.list_tasks(S.FAILED, limit=100)}
    assert {"junk", "nostatus", "weird"} <= listed
    leases = await s.claim("w", ["default"], 20, 30.0, 0.0)
    assert sorted(x.task.id for x in leases) == [f"g{i}" for i in range(5)]

    again = await Controller(s).repair(fail_unreadable=True)
    assert again.queues[0].failed_count == 0 and not again.changed and again.queues[0].garbage_count == 1


async def test_a_key_moved_aside_never_overwrites_one_moved_aside_before(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    s = redis_storage
    await s.enqueue([rec("good")])
    bad = s.keys.prefix("default") + "bad:junk"
    redis_server.cli("set", bad, "the first one")  # an earlier quarantine of the same id
    redis_server.cli("set", s.keys.task("default", "junk"), "x")

    report = await Controller(s).repair(["default"], fail_unreadable=True)

    [failed] = report.queues[0].failed
    assert redis_server.cli("get", bad) == "the first one"
    moved_to = failed.reason.rsplit("moved to ", 1)[1]
    assert moved_to.startswith(bad + ":") and redis_server.cli("get", moved_to) == "x"
    got = await s.get("junk")
    assert got is not None and got.status is S.FAILED


async def test_a_record_with_a_garbage_status_but_a_good_payload_runs_once_failed_and_retried(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """What failing buys: the operator sees the record among the failed tasks and can retry it."""
    s = redis_storage
    await s.enqueue([TaskRecord(id="lost", name="tests.redis.test_repair:double", args=[21])])
    key = s.keys.task("default", "lost")
    redis_server.cli("hset", key, "st", "limbo")  # a bad migration wrote a status gdw does not know
    redis_server.cli("zrem", s.keys.index("default", "pending"), "lost")  # and it sits in no index
    assert await s.claim("w", ["default"], 5, 30.0, 0.0) == []

    await Controller(s).repair(fail_unreadable=True)
    assert (await Controller(s).retry("lost")).done

    assert await drain(redis_server.url, ["lost"]) == [42]


async def broken_queue(s: RedisStorage, server: RedisServer) -> None:
    """Pending tasks whose index is a string, a completed task also listed in the scheduled index,
    and an unreadable record."""
    await s.enqueue([rec(f"p{i}") for i in range(8)] + [rec("done")])
    [lease] = await s.claim("w", ["default"], 1, 30.0, 0.0)
    assert await s.complete([Ack(lease.task.id, lease.token, 1)]) == [True]
    server.cli("zadd", s.keys.index("default", "scheduled"), "1", lease.task.id)
    break_index(server, s, S.PENDING)
    server.cli("set", s.keys.task("default", "junk"), "x")


async def test_a_dry_run_says_what_would_change_and_changes_nothing(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    s = redis_storage
    await broken_queue(s, redis_server)
    before = snapshot(redis_server)

    dry = await Controller(s).repair(dry_run=True)

    assert snapshot(redis_server) == before
    q = dry.queues[0]
    assert dry.dry_run and dry.changed
    assert [m.status for m in q.moved_aside] == [S.PENDING]
    assert q.reindexed == {S.PENDING: 8} and q.unlisted == {S.SCHEDULED: 1} and q.garbage_count == 1
    done = await Controller(s).repair()  # what the dry run said is what a repair does
    assert (done.queues[0].reindexed, done.queues[0].unlisted) == (q.reindexed, q.unlisted)
    assert [m.status for m in done.queues[0].moved_aside] == [S.PENDING]


async def test_a_second_repair_changes_nothing(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    s = redis_storage
    await broken_queue(s, redis_server)
    first = await Controller(s).repair()
    assert first.changed
    after_first = snapshot(redis_server)

    second = await Controller(s).repair()

    assert not second.changed and second.queues[0].garbage_count == 1  # (still unreadable, still alone)
    assert snapshot(redis_server) == after_first


async def test_a_queue_whose_repair_fails_does_not_stop_the_others() -> None:
    class OneBroken(MemoryStorage):
        async def repair(self, queue: str, dry_run: bool = False, fail_unreadable: bool = False) -> R.QueueRepair:
            if queue == "bad":
                raise redis.ResponseError("WRONGTYPE the index is a string again")
            return await super().repair(queue, dry_run, fail_unreadable)

    report = await Controller(OneBroken()).repair(["bad", "good"])
    assert [q.queue for q in report.queues] == ["good"]
    assert "WRONGTYPE" in report.failed_queues["bad"]


async def test_every_known_queue_is_repaired_when_none_is_named(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    s = redis_storage
    await s.enqueue([rec("a1"), rec("b1", queue="other")])
    for queue in ("default", "other"):
        key = s.keys.index(queue, "pending")
        redis_server.cli("del", key)
        redis_server.cli("set", key, "garbage")
    report = await Controller(s).repair()
    assert {q.queue: dict(q.reindexed) for q in report.queues} == {
        "default": {S.PENDING: 1},
        "other": {S.PENDING: 1},
    }


async def test_the_errors_of_a_stuck_queue_name_the_repair(
    redis_storage: RedisStorage, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """gdw's own WRONGTYPE (a batch moving into a garbage index) and the worker's log line of a
    queue it cannot claim from tell the operator to run gdw repair, not to delete the key."""
    s = redis_storage
    await s.enqueue([rec("x"), rec("z"), rec("y", queue="other")])
    [lease] = await s.claim("w", ["default"], 1, 30.0, 0.0)
    break_index(redis_server, s, S.RUNNING)
    with caplog.at_level(logging.ERROR, logger="gdw.redis"):
        assert await s.start([Start(lease.task.id, lease.token)]) == [None]  # (kept, sent again)
    [line] = [r.getMessage() for r in caplog.records if "start marks in queue 'default' fail" in r.getMessage()]
    assert "run gdw repair --queue default" in line and "deleted" not in line
    break_index(redis_server, s, S.PENDING)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="gdw.redis"):
        assert [lz.task.id for lz in await s.claim("w", ["default", "other"], 5, 30.0, 0.0)] == ["y"]
    [line] = [r.getMessage() for r in caplog.records if "claims in queue 'default' fail" in r.getMessage()]
    assert "gdw repair --queue default" in line
