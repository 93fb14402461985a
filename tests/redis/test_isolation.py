"""Isolation on Redis (semantics §12): garbage injected next to good tasks in every kind of key
fails alone, with its reason, or is skipped; the good tasks proceed and nothing raises."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from gdw_core import RetryPolicy, TaskQueue
from gdw_core.errors import GdwError, QueueRefused
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Ack, Start
from gdw_core.storage.redis import RedisStorage
from gdw_core.workerinfo import WorkerInfo, failing_queues
from tests.redis.conftest import spawn_worker
from tests.support.redis_server import RedisServer

S = TaskStatus


def rec(task_id: str, **kw: object) -> TaskRecord:
    return TaskRecord(id=task_id, name="proc_tasks:quick", args=[1], **kw)  # type: ignore[arg-type]


GOOD = [f"good{i}" for i in range(8)]


def hash_of(server: RedisServer, key: str) -> dict[str, str]:
    """A hash's fields, as redis-cli reads them."""
    lines = server.cli("hgetall", key).split("\n")
    return dict(zip(lines[::2], lines[1::2], strict=True))


def gdw_cli(url: str, *args: str) -> str:
    """``gdw ARGS --redis URL`` as its own process; its output (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, "-m", "gdw_core.cli", *args, "--redis", url],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def poison_pending(s: RedisStorage, server: RedisServer) -> dict[str, str]:
    """Garbage of every shape in the default queue's pending index; what each one should say."""
    t = lambda i: s.keys.task("default", i)  # noqa: E731
    pending = s.keys.index("default", "pending")
    server.cli("set", t("wrongtype"), "x")
    server.cli("zadd", pending, "-5", "wrongtype")
    server.cli("zadd", pending, "-5", "ghost")  # an id pointing nowhere
    server.cli("hset", t("nod"), "st", "pending", "n", "m:f")
    server.cli("zadd", pending, "-5", "nod")
    for task_id, field, value in (("badatt", "att", "many"), ("badtok", "tok", "1.5"), ("badcr", "cr", "yesterday")):
        server.cli("hset", t(task_id), "st", "pending", "n", "m:f", "d", '{"name":"m:f","args":[]}', field, value)
        server.cli("zadd", pending, "-5", task_id)
    return {
        "wrongtype": "not a task hash",
        "nod": "no payload",
        "badatt": "attempts",
        "badtok": "token",
        "badcr": "created",
    }


async def test_claim_fails_each_garbage_entry_alone_and_claims_every_good_task(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    s = redis_storage
    await s.enqueue([rec(i) for i in GOOD])
    await s.enqueue([TaskRecord(id="good-fffd", name="proc_tasks:quick", args=["\ufffd is a character too"])])
    reasons = poison_pending(s, redis_server)
    # payloads that pass the script's checks but not Python's decoding
    deep = "[" * 1000 + "]" * 1000
    for task_id, d in (("badjson", "{not json"), ("deep", '{"name":"m:f","args":' + deep + "}")):
        await s.enqueue([rec(task_id, priority=5)])
        redis_server.cli("hset", s.keys.task("default", task_id), "d", d)
    redis_server.cli("hset", s.keys.task("default", "badutf"), "st", "pending", "n", "m:f")
    redis_server.cli("zadd", s.keys.index("default", "pending"), "-5", "badutf")
    raw = redis.Redis(port=redis_server.port)
    raw.hset(s.keys.task("default", "badutf"), "d", b'{"name":"m:f","args":["\xff\xfe"]}')
    # a truncated 4-byte sequence decodes to one U+FFFD of the same length: still caught
    redis_server.cli("hset", s.keys.task("default", "badutf4"), "st", "pending", "n", "m:f")
    redis_server.cli("zadd", s.keys.index("default", "pending"), "-5", "badutf4")
    raw.hset(s.keys.task("default", "badutf4"), "d", b'{"name":"m:f","args":["\xf0\x90\x80"]}')
    raw.close()
    reasons.update(badjson="not valid JSON", deep="deep", badutf="UTF-8", badutf4="UTF-8")

    leases = await s.claim("w", ["default"], 100, 30, 0)
    assert sorted(lz.task.id for lz in leases) == sorted([*GOOD, "good-fffd"])
    assert next(lz.task.args for lz in leases if lz.task.id == "good-fffd") == ["\ufffd is a character too"]
    assert all(lz.task.status is S.CLAIMED and lz.task.started_at is None for lz in leases)
    for task_id, reason in reasons.items():
        got = await s.get(task_id)
        assert got is not None and got.status is S.FAILED, task_id
        said = [e.message for e in got.errors if e.type == "InvalidPayload"]
        assert any(reason in m for m in said), (task_id, got.errors)
    assert redis_server.cli("type", f"{s.keys.prefix('default')}bad:wrongtype") == "string"  # moved aside
    assert redis_server.cli("zscore", s.keys.index("default", "pending"), "ghost") in ("", None)
    counts = await s.counts()
    assert counts[S.CLAIMED] == len(GOOD) + 1 and counts[S.PENDING] == 0
    assert counts[S.FAILED] == len(reasons)


async def test_batch_paths_skip_garbage_records(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    s = redis_storage
    await s.enqueue([rec(i) for i in GOOD])
    leases = await s.claim("w", ["default"], 100, 0.2, 0)
    tokens = {lz.task.id: lz.token for lz in leases}
    # the first good task's key is replaced by garbage of the wrong type after its claim
    redis_server.cli("del", s.keys.task("default", "good0"))
    redis_server.cli("set", s.keys.task("default", "good0"), "x")
    assert await s.start([Start(i, tokens[i]) for i in GOOD]) == [False] + [True] * 7
    reply = await s.heartbeat(WorkerInfo("w", "h", 1, ["default"], 8), tokens, 30)
    assert reply.lost == {"good0"}
    flags = await s.complete([Ack(i, tokens[i], i) for i in GOOD[:4]])
    assert flags == [False, True, True, True]
    # cancel / retry_now on the garbage key: no exception, the key is moved aside and failed
    assert await s.cancel("good0") is S.FAILED
    got = await s.get("good0")
    assert got is not None and got.status is S.FAILED and got.errors[-1].type == "InvalidPayload"
    # recovery: a garbage running record next to expiring good ones
    redis_server.cli("hset", s.keys.task("default", "good4"), "att", "lots")
    redis_server.cli("zadd", s.keys.index("default", "running"), "0", "good4", "0", "good5", "0", "nowhere")
    recovered = await s.recover_expired()
    assert "good5" in recovered and "nowhere" not in recovered
    g4, g5 = await s.get("good4"), await s.get("good5")
    assert g4 is not None and g4.status is S.FAILED
    assert any("attempts field is not an integer" in e.message for e in g4.errors)
    assert g5 is not None and g5.status is S.RETRYING
    assert (await s.get("good6")) is not None


async def test_promote_and_purge_proceed_past_garbage(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    s = redis_storage
    await s.enqueue([rec(f"sched{i}", status=S.SCHEDULED, delay=3600) for i in range(4)])
    scheduled = s.keys.index("default", "scheduled")
    redis_server.cli("set", s.keys.task("default", "junk"), "x")
    redis_server.cli("zadd", scheduled, "0", "junk", "0", "ghost")
    redis_server.cli("hset", s.keys.task("default", "sched1"), "pri", "high")
    redis_server.cli("zadd", scheduled, "0", "sched0", "0", "sched1", "0", "sched2")
    nxt = await s.promote_due()  # sched3 is still an hour away
    assert nxt is not None and nxt > await s.now() + 3000
    assert (await s.counts())[S.PENDING] == 2
    junk, s1 = await s.get("junk"), await s.get("sched1")
    assert junk is not None and junk.status is S.FAILED and s1 is not None and s1.status is S.FAILED
    redis_server.cli("zadd", s.keys.index("default", "completed"), "0", "junk2")
    assert await s.purge_expired() >= 1


async def test_bad_queue_names_are_skipped_and_logged_once(
    redis_storage: RedisStorage, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    s = redis_storage
    await s.enqueue([rec("a"), rec("b", queue="other")])
    redis_server.cli("sadd", s.keys.queues, "br{ace}s", "new\nline", "")
    [lease] = await s.claim("w", ["default"], 1, 0.01, 0)
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.ERROR, logger="gdw.redis"):
        for _ in range(2):
            s._queue_cache = (0.0, [])
            assert {q.name for q in await s.queues()} == {"default", "other"}
            assert (await s.counts())[S.PENDING] == 1
            await s.promote_due()
            await s.purge_expired()
            await s.fire_recurring()
            assert await s.list_tasks(S.PENDING) != []
    assert await s.recover_expired() == [lease.task.id]
    bad = [r for r in caplog.records if "invalid name" in r.getMessage()]
    assert len(bad) == 3 and any("br{ace}s" in r.getMessage() for r in bad)


async def test_one_failing_queue_does_not_stop_the_passes(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    s = redis_storage
    await s.enqueue([rec("a"), rec("b", queue="broken")])
    [la] = await s.claim("w", ["default"], 1, 0.01, 0)
    await asyncio.sleep(0.05)
    redis_server.cli("set", s.keys.index("broken", "running"), "x")  # the index itself is garbage
    redis_server.cli("set", s.keys.index("broken", "scheduled"), "x")
    s._queue_cache = (0.0, [])
    assert await s.recover_expired() == [la.task.id]
    await s.promote_due()  # recovered 'a' is due now: promoted, though 'broken' fails
    a = await s.get("a")
    assert a is not None and a.status is S.PENDING
    assert (await s.counts())[S.PENDING] == 2  # the view survives the garbage index


async def test_unencodable_result_fails_only_its_task(redis_storage: RedisStorage) -> None:
    s = redis_storage
    await s.enqueue([rec("x"), rec("y"), rec("z")])
    leases = {lz.task.id: lz.token for lz in await s.claim("w", ["default"], 3, 30, 0)}
    flags = await s.complete([Ack("x", leases["x"], 1), Ack("y", leases["y"], {1, 2}), Ack("z", leases["z"], 3)])
    assert flags == [True, False, True]
    y = await s.get("y")
    assert y is not None and y.status is S.FAILED and y.errors[-1].type == "InvalidPayload"


async def test_reads_survive_wrong_type_records(redis_storage: RedisStorage, redis_server: RedisServer) -> None:
    s = redis_storage
    await s.enqueue([rec("ok")])
    redis_server.cli("set", s.keys.task("default", "ghost"), "x")
    redis_server.cli("zadd", s.keys.index("default", "pending"), "-1e15", "ghost")
    tasks = await s.list_tasks(S.PENDING)
    assert [t.id for t in tasks] == ["ghost", "ok"] and tasks[0].errors[0].type == "InvalidPayload"
    got = await s.get("ghost")
    assert got is not None and got.errors[0].type == "InvalidPayload"
    redis_server.cli("set", s.keys.worker("wbad"), "{nope")
    redis_server.cli("zadd", s.keys.workers, "1e12", "wbad")
    await s.heartbeat(WorkerInfo("wgood", "h", 1, ["default"], 1), {}, 30)
    assert [w.id for w in await s.workers()] == ["wgood"]
    redis_server.cli("hset", s.keys.prefix("default") + "rec", "e1", "{nope")
    assert await s.recurring() == []


def test_attempt_error_note_of_release_is_not_counted() -> None:
    from gdw_core.storage.redis.encoding import error_args

    prefix, _ = error_args(AttemptError(1, "Interrupted", "x", "", 0.0, counted=False))
    assert '"counted":false' in prefix


@pytest.mark.parametrize("broken_key", ["pending", "claimed"])
@pytest.mark.parametrize("wait", [0.0, 0.5])
async def test_a_queue_with_a_garbage_index_does_not_stop_claims_on_the_others(
    redis_storage: RedisStorage,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    broken_key: str,
    wait: float,
) -> None:
    """A worker serving several queues keeps claiming from the good ones when one queue's own
    index is a key of the wrong type (written by hand): that queue's claim fails, is logged, and
    the claim goes on to the next queue; only when every queue fails does the claim raise."""
    s = redis_storage
    await s.enqueue([rec("x", queue="broken")])
    redis_server.cli("del", s.keys.index("broken", broken_key))
    redis_server.cli("set", s.keys.index("broken", broken_key), "x")
    await s.enqueue([rec("g1"), rec("g2")])
    with caplog.at_level(logging.WARNING):
        leases = await s.claim("w", ["broken", "default"], 5, 30.0, wait)
    assert sorted(lease.task.id for lease in leases) == ["g1", "g2"]
    assert any("broken" in r.getMessage() and "WRONGTYPE" in r.getMessage() for r in caplog.records)
    # blocking with nothing to claim on the good queue still returns (empty), not an error
    assert await s.claim("w", ["broken", "default"], 5, 30.0, 0.2) == []
    # claiming the broken queue alone raises (the worker logs it and backs off)
    if broken_key == "claimed":
        await s.enqueue([rec("z", queue="broken")])
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await s.claim("w", ["broken"], 5, 30.0, 0.0)
    # once the key is deleted, the queue claims again and says so
    redis_server.cli("del", s.keys.index("broken", broken_key))
    await s.enqueue([rec("y", queue="broken")])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = await s.claim("w", ["broken", "default"], 5, 30.0, 0.0)
    assert "y" in {lease.task.id for lease in again}
    if broken_key == "claimed":  # the failed claims wrote nothing: x and z were pending all along
        assert {"x", "z"} <= {lease.task.id for lease in again}
    # ... and indexes what it claims (a failed index write leaves no state behind in the library)
    assert redis_server.cli("zscore", s.keys.index("broken", "claimed"), "y") != ""
    assert any("work again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("weights", [None, {"broken": 6, "default": 3}])
async def test_a_worker_process_serves_its_good_queues_past_a_broken_one(
    redis_storage: RedisStorage, redis_server: RedisServer, task_dir: Path, weights: dict[str, int] | None
) -> None:
    """A real worker on [broken, default] (strict order, and weighted): the broken queue's pending
    index is a string written by hand; every task of the default queue completes, and the worker
    logs the broken queue once instead of stopping."""
    s = redis_storage
    await s.enqueue([rec("lost", queue="broken")])  # (a queue gdw knows; its index then overwritten)
    redis_server.cli("del", s.keys.index("broken", "pending"))
    redis_server.cli("set", s.keys.index("broken", "pending"), "not a zset")
    producer = TaskQueue(worker_count=0, storage=s)
    ids = await producer.submit_many("proc_tasks:quick", [(i,) for i in range(60)])
    options: dict[str, object] = {"concurrency": 4, "queues": ["broken", "default"]}
    if weights:
        options["queue_weights"] = weights
    worker = spawn_worker(redis_server.url, task_dir, **options)
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while (await s.counts("default"))[S.COMPLETED] < 60 and asyncio.get_running_loop().time() < deadline:
            assert worker.poll() is None, "the worker exited"
            await asyncio.sleep(0.05)
        for task_id in ids:
            got = await s.get(task_id)
            assert got is not None and got.status is S.COMPLETED, (task_id, got and got.status)
        # its heartbeat says which queue it cannot claim from, and why (the dashboard shows it)
        while asyncio.get_running_loop().time() < deadline:
            infos = await s.workers()
            if infos and "broken" in infos[0].failing:
                break
            await asyncio.sleep(0.1)
        assert set(infos[0].failing) == {"broken"} and "WRONGTYPE" in infos[0].failing["broken"], infos

        # ... and the CLI says so: gdw workers names the queue and the error, gdw stats marks it
        gdw = functools.partial(gdw_cli, redis_server.url)
        assert ": queue 'broken': claims fail: " in gdw("workers")
        assert "failing queue(s) 'broken'" in gdw("stats")
        flags = {q["name"]: q["claims_failing"] for q in json.loads(gdw("stats", "--json"))["queues"]}
        assert flags == {"broken": True, "default": False}, flags
    finally:
        worker.terminate()
        worker.wait(30)
    log_text = "".join(p.read_text(errors="replace") for p in task_dir.glob("worker-*.log"))
    assert log_text.count("claims in queue 'broken' fail") == 1, log_text[-3000:]


async def test_a_garbage_index_moves_nothing_and_loses_no_task(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """start and complete of a batch whose destination index is a string written by hand fail as
    a whole before writing anything: the tasks stay where they were, indexed (so lease recovery
    still finds them), and move once the key is deleted."""
    s = redis_storage
    ids = [f"t{i}" for i in range(5)]
    await s.enqueue([rec(i) for i in ids])
    tokens = {lease.task.id: lease.token for lease in await s.claim("w", ["default"], 5, 30.0, 0)}
    running, completed = s.keys.index("default", "running"), s.keys.index("default", "completed")
    for key, status, step in ((running, S.CLAIMED, "start"), (completed, S.RUNNING, "complete")):
        redis_server.cli("set", key, "garbage")
        if step == "start":  # None: not written now, send again (not False: refused for good)
            assert await s.start([Start(i, tokens[i]) for i in ids]) == [None] * 5
        else:
            assert await s.complete([Ack(i, tokens[i], 1) for i in ids]) == [None] * 5
        assert "default" in s.failing_queues and s.failing_queues["default"].startswith(
            "start marks fail: " if step == "start" else "completions fail: "
        )
        for i in ids:
            got = await s.get(i)
            assert got is not None and got.status is status, (step, i, got and got.status)
        assert int(redis_server.cli("zcard", s.keys.index("default", status.value))) == 5
        redis_server.cli("del", key)
        if step == "start":
            assert await s.start([Start(i, tokens[i]) for i in ids]) == [True] * 5
        else:
            assert await s.complete([Ack(i, tokens[i], 1) for i in ids]) == [True] * 5
        assert "default" not in s.failing_queues  # (a call of the queue landed again)
    assert (await s.counts("default"))[S.COMPLETED] == 5


async def test_tasks_leave_a_garbage_index_and_are_indexed_where_they_go(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """An index that is a string cannot hold the tasks whose records say they are in it: a batch
    leaving it (start from `claimed`) moves them all and indexes them in `running`."""
    s = redis_storage
    ids = [f"t{i}" for i in range(5)]
    await s.enqueue([rec(i) for i in ids])
    tokens = {lease.task.id: lease.token for lease in await s.claim("w", ["default"], 5, 30.0, 0)}
    redis_server.cli("set", s.keys.index("default", "claimed"), "garbage")
    assert await s.start([Start(i, tokens[i]) for i in ids]) == [True] * 5
    assert int(redis_server.cli("zcard", s.keys.index("default", "running"))) == 5
    assert await s.complete([Ack(i, tokens[i], 1) for i in ids]) == [True] * 5


async def test_a_single_move_into_a_garbage_index_writes_nothing(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """One task's move (cancel, fail) into an index that is a string raises with nothing written:
    the task keeps its status and its place in its index."""
    s = redis_storage
    await s.enqueue([rec("p1"), rec("r1")])
    redis_server.cli("set", s.keys.index("default", "cancelled"), "garbage")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await s.cancel("p1")
    got = await s.get("p1")
    assert got is not None and got.status is S.PENDING
    assert redis_server.cli("zscore", s.keys.index("default", "pending"), "p1") != ""
    [lease] = await s.claim("w", ["default"], 1, 30.0, 0)
    redis_server.cli("set", s.keys.index("default", "failed"), "garbage")
    redis_server.cli("set", s.keys.index("default", "retrying"), "garbage")
    before = hash_of(redis_server, s.keys.task("default", lease.task.id))
    for delay in (None, 1.0, None):  # a worker's failure is sent again until it lands: each time nothing is written
        with pytest.raises(QueueRefused, match="WRONGTYPE"):
            await s.fail(lease.task.id, lease.token, AttemptError(1, "E", "m", "", 0.0), delay)
    assert hash_of(redis_server, s.keys.task("default", lease.task.id)) == before  # (no error added, lease kept)
    got = await s.get(lease.task.id)
    assert got is not None and got.status is S.CLAIMED and got.errors == []
    assert redis_server.cli("zscore", s.keys.index("default", "claimed"), lease.task.id) != ""
    assert s.failing_queues["default"].startswith("failures fail: ")
    redis_server.cli("del", s.keys.index("default", "failed"))
    assert await s.fail(lease.task.id, lease.token, AttemptError(1, "E", "m", "", 0.0), None) is S.FAILED
    got = await s.get(lease.task.id)
    assert got is not None and len(got.errors) == 1 and "default" not in s.failing_queues


async def test_an_error_about_the_server_is_not_blamed_on_a_queue(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """Out of memory (like a failover's READONLY) is every queue's: the claim raises it as the
    server's state at once, and no queue is reported as failing."""
    s = redis_storage
    await s.enqueue([rec("a"), rec("b", queue="other")])
    redis_server.cli("config", "set", "maxmemory-policy", "noeviction")
    redis_server.cli("config", "set", "maxmemory", "1")
    try:
        with pytest.raises(GdwError, match="out of memory"):
            await s.claim("w", ["default", "other"], 5, 30.0, 0.0)
        assert dict(s.failing_queues) == {}
    finally:
        redis_server.cli("config", "set", "maxmemory", "0")
    assert len(await s.claim("w", ["default", "other"], 5, 30.0, 0.0)) == 2


async def test_release_recover_and_promote_into_a_garbage_index_move_nothing(
    redis_storage: RedisStorage, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The moves that do not batch (release, lease recovery, promotion) into an index that is a
    string: nothing moves, every task keeps its status and its place, and each moves once the key
    is deleted."""
    s = redis_storage
    index = lambda status: s.keys.index("default", status.value)  # noqa: E731

    def placed(task_id: str, status: TaskStatus) -> bool:
        return redis_server.cli("zscore", index(status), task_id) != ""

    await s.enqueue([rec("rel"), rec("exp")])
    leases = {lease.task.id: lease for lease in await s.claim("w", ["default"], 1, 30.0, 0)}
    leases.update({lease.task.id: lease for lease in await s.claim("w", ["default"], 1, 0.05, 0)})
    await s.enqueue([rec("sch", status=S.SCHEDULED, delay=0.05)])
    await asyncio.sleep(0.2)  # exp's lease expired, sch is due
    for status in (S.PENDING, S.RETRYING):
        redis_server.cli("set", index(status), "garbage")
    records = {t: hash_of(redis_server, s.keys.task("default", t)) for t in ("rel", "exp")}
    for _ in range(2):  # sent again (as a worker does): nothing written either time
        with pytest.raises(QueueRefused, match="WRONGTYPE"):
            await s.release("rel", leases["rel"].token, AttemptError(1, "Interrupted", "stop", "", 0.0))
        assert await s.recover_expired() == []  # (that queue's pass fails, logged; the others run)
    # (no attempt given back twice, no error added, no lease deadline taken away)
    assert {t: hash_of(redis_server, s.keys.task("default", t)) for t in ("rel", "exp")} == records
    # the periodic pass that fails is reported (first by name: lease recovery), logged once
    assert s.failing_queues["default"].startswith("lease recovery fail: "), s.failing_queues
    assert sum("lease recovery in queue 'default' fail" in r.getMessage() for r in caplog.records) == 1
    await s.promote_due()
    for task_id, status in (("rel", S.CLAIMED), ("exp", S.CLAIMED), ("sch", S.SCHEDULED)):
        got = await s.get(task_id)
        assert got is not None and got.status is status and placed(task_id, status), (task_id, got and got.status)
    for status in (S.PENDING, S.RETRYING):
        redis_server.cli("del", index(status))
    assert await s.release("rel", leases["rel"].token, None)
    assert await s.recover_expired() == ["exp"]
    await s.promote_due()
    assert "default" not in s.failing_queues  # each works again
    for task_id, statuses in (("rel", {S.PENDING}), ("exp", {S.RETRYING, S.PENDING}), ("sch", {S.PENDING})):
        got = await s.get(task_id)  # (exp's backoff may have passed: promoted on to pending)
        assert got is not None and got.status in statuses and placed(task_id, got.status), (task_id, got and got.status)


async def test_a_bulk_retry_into_a_garbage_index_moves_nothing_there_and_the_other_queues_go_on(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """Bulk retry of failed tasks in two queues, one whose pending index is a string: that queue's
    walk stops with its reason, its failed tasks stay failed and indexed; the other queue's are
    retried."""
    from gdw_core import bulk as B

    s = redis_storage
    await s.enqueue([rec("a1", max_retries=0), rec("b1", queue="other", max_retries=0)])
    for queue, task_id in (("default", "a1"), ("other", "b1")):
        [lease] = await s.claim("w", [queue], 1, 30.0, 0)
        assert await s.fail(task_id, lease.token, AttemptError(1, "E", "m", "", 0.0), None) is S.FAILED
    redis_server.cli("set", s.keys.index("default", "pending"), "garbage")
    summary = await B.run(s, B.Action.RETRY, B.Filter(S.FAILED))
    assert set(summary.failed_queues) == {"default"} and "WRONGTYPE" in summary.failed_queues["default"]
    a1, b1 = await s.get("a1"), await s.get("b1")
    assert a1 is not None and a1.status is S.FAILED
    assert redis_server.cli("zscore", s.keys.index("default", "failed"), "a1") != ""
    assert b1 is not None and b1.status is S.PENDING


@pytest.mark.parametrize(
    ("index", "task", "ends", "what"),
    [
        (S.COMPLETED, "proc_tasks:counted", S.COMPLETED, "completions"),
        (S.FAILED, "proc_tasks:counted_boom", S.FAILED, "failures"),
    ],
)
async def test_a_worker_keeps_what_it_finished_until_its_queue_takes_it_and_runs_nothing_twice(
    redis_storage: RedisStorage, redis_server: RedisServer, task_dir: Path, index: S, task: str, ends: S, what: str
) -> None:
    """A real worker on [broken, default] where the broken queue's completed (or failed) index is a
    string written by hand. The default queue's tasks end; the broken queue's tasks run once each
    and stay running (their outcomes kept, their leases alive) for many leases, neither run again
    nor failed as poison; the worker reports the queue ("completions fail" / "failures fail"); once
    gdw repair moved the key aside every outcome lands and nothing ran twice. (Before: each
    completion was dropped as refused, every task ran max_retries + 1 times and ended failed; each
    failure was abandoned after a lease, and its task run again.)"""
    s = redis_storage
    producer = TaskQueue(worker_count=0, storage=s)
    redis_server.cli("set", s.keys.index("broken", index.value), "not a zset")
    once = producer.options(queue="broken", retry=RetryPolicy(max_retries=0))
    broken = await once.submit_many(task, [(i,) for i in range(6)])
    good = await producer.options(retry=RetryPolicy(max_retries=0)).submit_many(task, [(100 + i,) for i in range(20)])
    lease = 1.0
    worker = spawn_worker(redis_server.url, task_dir, concurrency=4, queues=["broken", "default"], lease=lease)
    loop = asyncio.get_running_loop()
    runs = task_dir / "runs.log"

    def ran() -> list[int]:
        return [int(x) for x in runs.read_text().split()] if runs.exists() else []

    async def statuses(ids: list[str]) -> list[S | None]:
        return [r.status if (r := await s.get(t)) is not None else None for t in ids]

    try:
        deadline = loop.time() + 60
        while set(await statuses(good)) != {ends} or len(ran()) < 26:
            assert worker.poll() is None, "the worker exited"
            assert loop.time() < deadline, (await s.counts("default"), ran())
            await asyncio.sleep(0.05)
        while not any("broken" in w.failing for w in await s.workers()):
            assert loop.time() < deadline, "the worker did not report the queue"
            await asyncio.sleep(0.1)
        why = next(w.failing["broken"] for w in await s.workers() if "broken" in w.failing)
        assert why.startswith(f"{what} fail: ") and "WRONGTYPE" in why, why
        await asyncio.sleep(6 * lease)  # six leases: nothing recovered, nothing run again
        assert set(await statuses(broken)) <= {S.CLAIMED, S.RUNNING}, await statuses(broken)
        assert sorted(ran()) == sorted([*range(6), *range(100, 120)]), ran()

        report = await producer.control.repair(["broken"])
        assert [m.status for q in report.queues for m in q.moved_aside] == [index]
        while set(await statuses(broken)) != {ends}:
            assert loop.time() < deadline + 30, await statuses(broken)
            await asyncio.sleep(0.05)
        if ends is S.COMPLETED:
            assert [await producer.result(t, timeout=5) for t in broken] == list(range(6))
        else:
            recs = [await s.get(t) for t in broken]
            errors = [[(e.type, e.message) for e in r.errors] if r is not None else None for r in recs]
            assert errors == [[("ValueError", f"boom {i}")] for i in range(6)], errors
        assert sorted(ran()) == sorted([*range(6), *range(100, 120)]), "a task ran twice"
        while any("broken" in w.failing for w in await s.workers()):  # the report clears
            assert loop.time() < deadline + 30, "the queue is still reported failing"
            await asyncio.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(30)
    log_text = "".join(p.read_text(errors="replace") for p in task_dir.glob("worker-*.log"))
    assert log_text.count(f"{what} in queue 'broken' fail") == 1, log_text[-3000:]
    assert "refused by the storage" not in log_text and "recovered" not in log_text, log_text[-3000:]
    assert "abandoned" not in log_text, log_text[-3000:]


async def test_an_index_that_cannot_be_read_is_reported_not_counted_as_empty(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """A queue's completed index overwritten by hand counts 0, and the queue's view says which
    index cannot be read and why; gdw stats prints it (and --json has it), the failing roll-up
    names the queue with no worker running, and after gdw repair all of it is gone."""
    s = redis_storage
    await s.enqueue([rec(f"g{i}") for i in range(3)])
    await s.enqueue([rec(f"b{i}", queue="broken") for i in range(2)])
    redis_server.cli("set", s.keys.index("broken", "completed"), "not a zset")
    queues = {q.name: q for q in await s.queues()}
    assert set(queues["broken"].unreadable) == {"completed"}, queues["broken"]
    assert "WRONGTYPE" in queues["broken"].unreadable["completed"]
    assert queues["broken"].counts["pending"] == 2 and queues["default"].unreadable == {}
    assert set(failing_queues([], queues.values())) == {"broken"}

    gdw = functools.partial(gdw_cli, redis_server.url)
    out = gdw("stats")
    assert "queue 'broken': its completed index cannot be read (WRONGTYPE" in out, out
    assert "gdw repair --queue broken" in out and "failing queue(s) 'broken'" in out, out
    doc = {q["name"]: q for q in json.loads(gdw("stats", "--json"))["queues"]}
    assert set(doc["broken"]["unreadable"]) == {"completed"} and doc["default"]["unreadable"] == {}
    assert doc["broken"]["claims_failing"] is True and doc["default"]["claims_failing"] is False

    gdw("repair", "--queue", "broken")
    queues = {q.name: q for q in await s.queues()}
    assert queues["broken"].unreadable == {} and not failing_queues([], queues.values())
    assert "cannot be read" not in gdw("stats")


async def test_lease_recovery_leaves_a_task_it_cannot_move_and_recovers_the_others(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """Two expired leases in one queue whose failed index is a string: the poison task (its
    attempts spent, bound for failed) is left as it is, untouched; the other is recovered in the
    same pass; the queue is reported (lease recovery); once the key is gone the poison task fails."""
    s = redis_storage
    await s.enqueue([rec("poison", max_retries=0)])
    [first] = await s.claim("w", ["default"], 1, 0.01, 0)  # expires first: met first by the pass
    await s.enqueue([rec("fine", max_retries=3)])
    [second] = await s.claim("w", ["default"], 1, 0.05, 0)
    await asyncio.sleep(0.2)
    redis_server.cli("set", s.keys.index("default", "failed"), "garbage")
    before = hash_of(redis_server, s.keys.task("default", "poison"))
    assert await s.recover_expired() == []  # (the call raised: logged and reported, not returned)
    fine, poison = await s.get("fine"), await s.get("poison")
    assert fine is not None and fine.status in (S.RETRYING, S.PENDING), fine and fine.status
    assert poison is not None and poison.status is S.CLAIMED
    assert hash_of(redis_server, s.keys.task("default", "poison")) == before
    assert s.failing_queues["default"].startswith("lease recovery fail: ") and "repair" in s.failing_queues["default"]
    redis_server.cli("del", s.keys.index("default", "failed"))
    assert await s.recover_expired() == ["poison"]
    poison = await s.get("poison")
    assert poison is not None and poison.status is S.FAILED and "default" not in s.failing_queues
    assert first.task.id == "poison" and second.task.id == "fine"


async def test_a_garbage_event_stream_or_wake_list_is_set_aside_and_costs_no_transition(
    redis_storage: RedisStorage, redis_server: RedisServer
) -> None:
    """The queue's event stream, then its wake list, overwritten by hand: submit, claim and complete
    each answer as they should (before, each raised after its writes were made: a submit reported
    failed had created its task, a claim's leases were lost and its tasks later spent an attempt);
    the key is renamed aside, kept, and made again, and the events go on."""
    s = redis_storage
    prefix = s.keys.prefix("default")
    redis_server.cli("set", prefix + "ev", "not a stream")
    assert await s.enqueue([rec("a")]) == [True]
    [lease] = await s.claim("w", ["default"], 1, 30.0, 0)
    assert await s.complete([Ack("a", lease.token, 1)]) == [True]
    kept = redis_server.cli("keys", prefix + "ev:quarantine:*").split()
    assert len(kept) == 1 and redis_server.cli("get", kept[0]) == "not a stream"
    assert redis_server.cli("type", prefix + "ev") == "stream"
    kinds = [e.kind for e in await s.read_events("0") if e.task_id == "a"]
    assert kinds[-1] == "completed", kinds
    redis_server.cli("set", prefix + "wake", "not a list")
    assert await s.enqueue([rec("b")]) == [True]
    assert redis_server.cli("type", prefix + "wake") == "list"
    assert len(redis_server.cli("keys", prefix + "wake:quarantine:*").split()) == 1
    assert [lz.task.id for lz in await s.claim("w", ["default"], 1, 30.0, 0)] == ["b"]


async def test_a_worker_whose_wake_list_is_garbage_polls_instead_of_spinning(
    redis_storage: RedisStorage, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """An idle worker's blocking wait answers WRONGTYPE at once when the wake list is a string: it
    claims every 50 ms instead of looping on it (a busy loop sent thousands of commands a second),
    says so once, and a submit (which makes the list again) finds it working as before."""
    s = redis_storage
    queue = TaskQueue(worker_count=1, storage=s)
    async with queue:
        tid = await queue.submit(_double, 1)
        assert await queue.result(tid, timeout=10) == 2
        redis_server.cli("set", s.keys.prefix("default") + "wake", "not a list")
        await asyncio.sleep(0.3)  # the worker is idle, waiting
        before = int(redis_server.cli("info", "stats").split("total_commands_processed:")[1].split()[0])
        await asyncio.sleep(1.0)
        after = int(redis_server.cli("info", "stats").split("total_commands_processed:")[1].split()[0])
        assert after - before < 400, f"{after - before} commands in one idle second"
        tid = await queue.submit(_double, 2)
        assert await queue.result(tid, timeout=10) == 4
        assert redis_server.cli("type", s.keys.prefix("default") + "wake") in ("list", "none")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("waiting for work on" in m and "fails" in m for m in messages) == 1, messages


async def _double(n: int) -> int:
    return n * 2
