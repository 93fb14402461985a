"""Corrupt data of many shapes injected straight into every kind of key the Redis backend keeps,
with dozens of good tasks alongside, run by three real ``gdw worker`` processes (issue 10, Proof).

Every good task completes exactly once; every bad one ends terminal with a clear reason (an
InvalidPayload error) or is reported unreadable; the workers stay up; the CLI's views exit 0."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from gdw_core import TaskQueue
from gdw_core.record import TaskRecord
from gdw_core.status import TERMINAL, TaskStatus
from tests.adversarial import adv_tasks
from tests.adversarial.scene import TASKS, G, Scene, invalid_reason, qp
from tests.faults.harness import wait_for

S = TaskStatus
GOOD = f"{TASKS}:good"
P = qp("default")
Corrupt = Callable[[aioredis.Redis, bytes], Awaitable[object]]


def _deep(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def _payload(**changes: object) -> bytes:
    d = {"name": GOOD, "args": [1], "kwargs": {}, "queue": "default", "priority": 0, "max_retries": 3,
         "retry": None, "timeout": None, "recurring_id": None, "secret": False}  # fmt: skip
    d.update(changes)
    return json.dumps(d).encode()


async def _replace(r: aioredis.Redis, key: bytes, *cmd: object) -> None:
    await r.delete(key)
    await r.execute_command(*cmd)


#: shapes whose record cannot be run: each must end ``failed`` with an InvalidPayload reason
STRICT: dict[str, Corrupt] = {
    "type-string": lambda r, k: _replace(r, k, "SET", k, b"x"),
    "type-list": lambda r, k: _replace(r, k, "RPUSH", k, b"a", b"b"),
    "type-set": lambda r, k: _replace(r, k, "SADD", k, b"a"),
    "type-zset": lambda r, k: _replace(r, k, "ZADD", k, 1, b"a"),
    "type-stream": lambda r, k: _replace(r, k, "XADD", k, "*", b"a", b"b"),
    "att-nonnumeric": lambda r, k: r.hset(k, b"att", b"abc"),
    "tok-nonnumeric": lambda r, k: r.hset(k, b"tok", b"x1"),
    "st-bogus": lambda r, k: r.hset(k, b"st", b"exploded"),
    "st-missing": lambda r, k: r.hdel(k, b"st"),
    "d-missing": lambda r, k: r.hdel(k, b"d"),
    "d-invalid-json": lambda r, k: r.hset(k, b"d", b"{not json"),
    "d-array": lambda r, k: r.hset(k, b"d", b"[1, 2]"),
    "d-invalid-utf8": lambda r, k: r.hset(k, b"d", b'{"name": "\xff\xfe", "args": []}'),
    "d-huge": lambda r, k: r.hset(k, b"d", _payload(args=["x" * (3 * 1024 * 1024)])),
    "d-deep-args": lambda r, k: r.hset(k, b"d", _payload(args="DEEP").replace(b'"DEEP"', _deep(1000).encode())),
    "d-args-not-list": lambda r, k: r.hset(k, b"d", _payload(args="not a list")),
    "d-name-empty": lambda r, k: r.hset(k, b"d", _payload(name="")),
}

#: shapes a backend may tolerate (a well-defined default): each must end terminal, and if it
#: did not complete, with a recorded reason
TOLERANT: dict[str, Corrupt] = {
    # the hash's priority is a copy of the payload's, used only to order the pending index: a
    # non-number there orders the task as priority 0, and the task itself is intact
    "pri-nonnumeric": lambda r, k: r.hset(k, b"pri", b"high"),
    # the retry budget is rewritten by the worker's start mark (its @task policy) before it matters
    "mx-nonnumeric": lambda r, k: r.hset(k, b"mx", b"lots"),
    "att-missing": lambda r, k: r.hdel(k, b"att"),
    "mx-missing": lambda r, k: r.hdel(k, b"mx"),
    "errs-invalid": lambda r, k: r.hset(k, b"errs", b"[{broken"),
    "name-unregistered": lambda r, k: r.hset(k, b"d", _payload(name="nosuch.module:fn")),
}

BAD_QUEUE_NAMES = [b"br{ace}s", b"new\nline", "\u00fcn\u00ef\u20ac".encode(), b"", b"sp ace", b"\xff\xfe", b"}{"]


async def _inject_globals(r: aioredis.Redis) -> None:
    """Hostile queue names, a valid queue whose keys have the wrong types, malformed worker
    records, recurring entries, commands and events."""
    await r.sadd(G + "queues", *BAD_QUEUE_NAMES)
    await r.sadd(G + "paused", b"br{ace}s", b"\xff\xfe")
    broken = qp("wrongtype")
    await r.sadd(G + "queues", b"wrongtype")
    for suffix in ("p", "r", "k", "ds", "dr", "c", "f", "recdue"):
        await r.set(broken + suffix, b"not a zset")
    await r.set(broken + "rec", b"not a hash")
    now = float((await r.time())[0])
    await r.set(G + "w:bogus1", b"not json")
    await r.set(G + "w:bogus2", b"[1, 2]")
    await r.hset(G + "w:bogus3", b"a", b"b")
    await r.set(G + "w:bogus4", b'{"id": "bogus4", "pid": "notanint", "queues": 7}')
    await r.set(G + "w:bogus5", b'{"id": "\xff"}')
    await r.zadd(G + "workers", {b"bogus1": now, b"bogus2": now, b"bogus3": now, b"bogus4": now,
                                 b"bogus5": now, b"ghost-worker": now, b"\xff\xfe": now})  # fmt: skip
    await r.hset(P + "rec", b"bad-rec1", b"not json")
    await r.hset(P + "rec", b"bad-rec2", b'{"id": "bad-rec2"}')
    await r.hset(P + "rec", b"bad-rec3", b"\xff\xfe")
    await r.zadd(P + "recdue", {b"bad-rec1": 0, b"bad-rec2": 0, b"bad-rec3": 0, b"ghost-rec": 0})
    for fields in ({b"c": b"not json"}, {b"c": b'{"kind": "shutdown", "timeout": "soon"}'}, {b"x": b"y"},
                   {b"c": b"[1]"}, {b"c": b"\xff"}, {b"c": b'{"kind": "selfdestruct"}'}):  # fmt: skip
        await r.xadd(G + "cmd", fields)
    await r.xadd(P + "ev", {b"garbage": b"\xff"})
    await r.xadd(G + "ev", {b"k": b"running", b"t": b"\xff", b"a": b"NaN-ish"})


async def _check_reads(scene: Scene) -> None:
    """Every read view answers (none raises for one bad item)."""
    st = scene.storage
    await st.counts()
    await st.queues()
    await st.workers()
    await st.recurring()
    for status in TaskStatus:
        await st.list_tasks(status, limit=200)
    await st.read_events("0", limit=5000)


def _cli_ok(scene: Scene, *args: str) -> str:
    res = scene.gdw(*args)
    assert res.code == 0, f"gdw {' '.join(args)} exited {res.code}: {res.err[-2000:]}"
    return res.out


async def test_corrupt_data_in_every_key_fails_alone_while_good_tasks_complete_once(scene: Scene) -> None:
    r = scene.raw
    q = scene.producer
    good = [await q.options(task_id=f"good-{i}").submit(GOOD, i) for i in range(24)]
    victims: dict[str, str] = {}
    for shape in (*STRICT, *TOLERANT):
        victims[shape] = await q.options(task_id=f"bad-{shape}").submit(GOOD, 1)
        good.append(await q.options(task_id=f"good-after-{shape}").submit(GOOD, 1000))
    for shape, task_id in victims.items():
        corrupt = STRICT.get(shape) or TOLERANT[shape]
        await corrupt(r, (P + "t:" + task_id).encode())
    # a scheduled record that turns corrupt before promotion, and ids pointing nowhere in every index
    victims["scheduled-d-invalid"] = await q.options(task_id="bad-scheduled").schedule(GOOD, 1.0, 1)
    await r.hset(P + "t:bad-scheduled", b"d", b"{oops")
    ghosts = {"p": b"ghost-p", "ds": b"ghost-ds", "dr": b"ghost-dr", "r": b"ghost-r", "k": b"ghost-k"}
    for suffix, ghost in ghosts.items():
        await r.zadd(P + suffix, {ghost: 0 if suffix == "p" else 1})
    await _inject_globals(r)
    await q.schedule_recurring(GOOD, 7, interval=0.3, entry_id="tick", start_now=True)
    good += [await q.options(task_id=f"good-late-{i}").submit(GOOD, i) for i in range(16)]

    # one worker on the default queue, one also serving the queue whose every key has the wrong
    # type (first, in strict order), one weighing the two: the broken queue costs none of them
    for extra in (None, ["--queues", "wrongtype,default"], ["--queues", "default:3,wrongtype:1"]):
        scene.spawn(concurrency=4, extra=extra)
    await scene.registered(3)
    done = await scene.terminal(good, 90, "every good task to end")
    bad = await scene.terminal(list(victims.values()), 60, "every bad task to end")

    # every good task completed, exactly once, with its own result
    for task_id in good:
        assert done[task_id].status is S.COMPLETED, (task_id, done[task_id].status, done[task_id].errors)
    runs = scene.executions()
    twice = {t: n for t, n in runs.items() if t in set(good) and n != 1}
    assert not twice, f"good tasks run more than once: {twice}"
    assert set(good) <= set(runs)
    assert done["good-5"].result == 10

    # every bad one ended terminal, with a clear reason
    for shape, task_id in victims.items():
        rec: TaskRecord = bad[task_id]
        if shape in TOLERANT:
            assert rec.status in TERMINAL
            if rec.status is not S.COMPLETED:
                assert rec.errors and rec.errors[-1].message.strip(), (shape, rec.errors)
            continue
        assert rec.status is S.FAILED, (shape, rec.status)
        assert invalid_reason(rec), f"{shape}: no InvalidPayload reason in {rec.errors}"
        assert task_id not in runs, f"{shape}: a corrupt record was handed to a task"

    # ids pointing nowhere were dropped from the indexes claim and promote read
    for suffix in ("p", "ds"):
        assert await r.zscore(P + suffix, ghosts[suffix]) is None, f"ghost id left in {suffix}"

    # the good recurring entry keeps firing beside the malformed ones (every 0.3 s: 3 runs within
    # a generous 15 s, whatever the machine's load)
    def ticks() -> list[str]:
        return [t for t in scene.executions() if t.startswith("tick@")]

    async def three_ticks() -> bool:
        return len(ticks()) >= 3

    with contextlib.suppress(AssertionError):
        await wait_for(three_ticks, 15, "three recurring ticks")
    assert len(ticks()) >= 3, f"recurring entry fired {len(ticks())} tick(s)"

    # the workers stayed up, every view answers and the CLI exits 0
    assert all(w.alive() for w in scene.procs), scene.outputs()
    for w in scene.procs[1:]:  # the two serving the broken queue said so once, and went on
        assert w.output().count("claims in queue 'wrongtype' fail") == 1, w.output()[-3000:]
    await _check_reads(scene)
    stats = json.loads(_cli_ok(scene, "stats", "--json"))
    assert stats["counts"]["pending"] == 0
    _cli_ok(scene, "stats")
    _cli_ok(scene, "ls")
    _cli_ok(scene, "ls", "--state", "failed", "--limit", "200")
    listed = json.loads(_cli_ok(scene, "ls", "--state", "failed", "--limit", "200", "--json"))
    assert {t["id"] for t in listed["tasks"]} >= {victims[s] for s in STRICT}
    _cli_ok(scene, "workers")
    _cli_ok(scene, "workers", "--json")
    _cli_ok(scene, "recurring", "ls")
    for task_id in victims.values():
        _cli_ok(scene, "status", task_id)
    # ... and a graceful stop still works
    for w in scene.procs:
        w.send(signal.SIGTERM)
    codes = [await w.wait(40) for w in scene.procs]
    assert codes == [0, 0, 0], scene.outputs()


async def _memory_outcomes(kinds: tuple[str, ...]) -> dict[str, tuple[TaskStatus, str | None]]:
    async with TaskQueue(worker_count=2, tasks=[adv_tasks]) as queue:
        ids = {k: await queue.submit(adv_tasks.bad_result, k) for k in kinds}
        out = {}
        for kind, task_id in ids.items():
            rec = await queue.wait(task_id, timeout=30)
            out[kind] = (rec.status, rec.last_error.type if rec.last_error else None)
        return out


async def test_non_json_results_fail_only_their_task_the_same_on_memory_and_redis(scene: Scene) -> None:
    kinds = adv_tasks.UNENCODABLE
    q = scene.producer
    bad = {k: await q.options(task_id=f"result-{k}").submit(f"{TASKS}:bad_result", k) for k in kinds}
    good = [await q.options(task_id=f"good-{i}").submit(GOOD, i) for i in range(30)]
    scene.spawn(concurrency=6)
    scene.spawn(concurrency=6)
    done = await scene.terminal([*good, *bad.values()], 60)
    assert all(done[t].status is S.COMPLETED for t in good), {t: done[t].status for t in good}
    assert all(n == 1 for t, n in scene.executions().items() if t in good)
    on_redis = {k: (done[t].status, done[t].last_error.type if done[t].last_error else None) for k, t in bad.items()}
    assert on_redis == {k: (S.FAILED, "InvalidPayload") for k in kinds}
    assert await _memory_outcomes(kinds) == on_redis
    assert all(w.alive() for w in scene.procs), scene.outputs()


async def test_one_bad_queue_never_stops_lease_recovery_on_the_others(scene: Scene) -> None:
    """A worker is killed holding a task while hostile names sit in the queues set: the expired
    lease is still recovered and the task completes on the other worker."""
    await _inject_globals(scene.raw)
    task_id = await scene.producer.options(task_id="held").submit(f"{TASKS}:slow", 60)
    victim = scene.spawn(concurrency=1)
    await scene.registered(1)

    async def running() -> bool:
        rec = await scene.storage.get(task_id)
        return rec is not None and rec.status is S.RUNNING

    await wait_for(running, 30, "the slow task to start")
    victim.kill9()
    scene.spawn(concurrency=1)

    async def recovered() -> bool:
        rec = await scene.storage.get(task_id)
        return rec is not None and rec.status is not S.RUNNING and any(e.type == "LeaseExpired" for e in rec.errors)

    await wait_for(recovered, 30, "the killed worker's lease to be recovered")
