"""Events on Redis are written one stream entry per script call (emit buffers them, end_call writes
them): a claim or an ack of many tasks costs one XADD, and every event still reads alone, with its
own ordered id, on both script forms (FCALL and EVALSHA) and across the entries' edges."""

from __future__ import annotations

import pytest

from gdw_core import views
from gdw_core.events import Event
from gdw_core.record import TaskRecord
from gdw_core.storage.protocol import Ack, Retention
from gdw_core.storage.redis import RedisStorage
from gdw_core.storage.redis.reader import _stream_key
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

N = 12


def rec(task_id: str) -> TaskRecord:
    return TaskRecord(id=task_id, name="proc_tasks:quick", args=[1])


async def one_batch(s: RedisStorage, prefix: str) -> list[str]:
    ids = [f"{prefix}{i:02d}" for i in range(N)]
    assert await s.enqueue([rec(i) for i in ids]) == [True] * N
    leases = await s.claim("w", ["default"], N, 30, 0)
    assert sorted(lz.task.id for lz in leases) == ids
    assert await s.complete([Ack(lz.task.id, lz.token, None) for lz in leases]) == [True] * N
    return ids


def xlen(server: RedisServer, s: RedisStorage) -> int:
    return int(server.cli("xlen", s.keys.prefix("default") + "ev"))


async def read_all(s: RedisStorage, after: str, page: int) -> list[Event]:
    out: list[Event] = []
    while batch := await s.read_events(after, page):
        out.extend(batch)
        after = batch[-1].id
    return out


@pytest.mark.parametrize("functions", [True, False], ids=["fcall", "evalsha"])
async def test_one_entry_per_call_and_every_event_reads_alone(redis_server: RedisServer, functions: bool) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        s._scripts.functions = functions
        start = await s.last_event_id()
        ids = await one_batch(s, "b")
        assert xlen(redis_server, s) == 3  # the enqueue, the claim and the ack of 12 tasks
        events = await s.read_events(start, 1000)
        per_task = {i: [(e.old, e.kind) for e in events if e.task_id == i] for i in ids}
        life = [(None, "pending"), ("pending", "claimed"), ("claimed", "completed")]
        assert all(v == life for v in per_task.values())
        assert all(e.queue == "default" and e.name == "proc_tasks:quick" for e in events)
        claimed = [e for e in events if e.kind == "claimed"]
        assert all(e.worker == "w" and e.attempt == 1 for e in claimed)
        keys = [_stream_key(e.id) for e in events]
        assert keys == sorted(keys) and len(set(keys)) == len(keys) == 3 * N
        # paging in steps that cut through entries gives the same events, none twice
        for page in (1, 5, 7, 36):
            assert [e.id for e in await read_all(s, start, page)] == [e.id for e in events]
        assert await s.last_event_id() == events[-1].id
        assert await s.read_events(events[-1].id, 10) == []
    finally:
        await s.close()


async def test_an_entry_holds_at_most_64_events(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        ids = [f"m{i:03d}" for i in range(150)]
        assert await s.enqueue([rec(i) for i in ids]) == [True] * 150
        assert xlen(redis_server, s) == 3  # 64 + 64 + 22
        events = await s.read_events("0", 1000)
        assert [e.task_id for e in events] == ids
    finally:
        await s.close()


async def test_the_stream_keeps_about_the_retained_number_of_events(redis_server: RedisServer) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url, retention=Retention(events=500))
    await s.open()
    try:
        for round_ in range(40):
            await one_batch(s, f"r{round_}-")
        kept = len(await read_all(s, "0", 5000))
        # at least the retained number; above it by a step (500 / 8) and one stream node's slack
        assert 500 <= kept <= 500 + 63 + 100 * N
        assert kept < 40 * 3 * N
    finally:
        await s.close()


async def test_one_large_entry_does_not_cut_the_small_ones_before_it(redis_server: RedisServer) -> None:
    """Entries hold 1 to 64 events: the stream is trimmed by events, so a batch submit of 64 (one
    entry) after many one-event calls keeps the last `events` events, not 500 / 64 entries."""
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url, retention=Retention(events=500))
    await s.open()
    try:
        for i in range(600):  # 600 entries of one event each
            assert await s.enqueue([rec(f"one{i:03d}")]) == [True]
        big = [f"big{i:02d}" for i in range(64)]
        assert await s.enqueue([rec(i) for i in big]) == [True] * 64
        ids = [e.task_id for e in await read_all(s, "0", 5000)]
        assert ids[-64:] == big
        assert len(ids) >= 500
        assert ids[-500:-64] == [f"one{i:03d}" for i in range(600 - 436, 600)]
    finally:
        await s.close()


@pytest.mark.parametrize("garbage", ["string", "list"])
async def test_trim_bookkeeping_written_by_hand_starts_again(redis_server: RedisServer, garbage: str) -> None:
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url, retention=Retention(events=80))
    await s.open()
    try:
        ev = s.keys.prefix("default") + "ev"
        if garbage == "string":  # the count is not a number, the checkpoints not a list
            redis_server.cli("set", ev + "n", "not a number")
            redis_server.cli("set", ev + "k", "x")
        else:  # checkpoints that are no entry ids
            redis_server.cli("rpush", ev + "k", *["nonsense"] * 12)
        for round_ in range(30):
            await one_batch(s, f"g{round_}-")  # 36 events a round
        kept = len(await read_all(s, "0", 5000))
        assert 80 <= kept <= 80 + 10 + 100 * N
        assert kept < 30 * 3 * N
    finally:
        await s.close()


async def test_a_script_that_raises_still_writes_the_events_of_what_it_changed(redis_server: RedisServer) -> None:
    """end_call runs after an error too: a task already moved in the call has its event."""
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        assert await s.enqueue([rec("x1")]) == [True]
        redis_server.cli("set", s.keys.prefix("default") + "seq", "not-a-number")  # INCR in the next enqueue raises
        with pytest.raises(Exception, match="not an integer"):
            await s.enqueue([rec("x2")])
        kinds = [(e.task_id, e.kind) for e in await s.read_events("0", 100)]
        assert kinds == [("x1", "pending")]
    finally:
        await s.close()


async def test_fields_that_change_inside_an_entry_read_right(redis_server: RedisServer) -> None:
    """After the first event of an entry only the fields that differ from the event before are
    written; the reader carries the rest forward: names, workers and empty values alternate here."""
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        names = ["m:a", "m:b", "m:b", "m:a", "m:c", "m:c"]
        ids = [f"c{i}" for i in range(len(names))]
        await s.enqueue([TaskRecord(id=i, name=n, args=[1]) for i, n in zip(ids, names, strict=True)])
        first = await s.claim("w1", ["default"], 3, 30, 0)
        second = await s.claim("w2", ["default"], 3, 30, 0)
        acks = [Ack(lz.task.id, lz.token, None) for lz in (second[2], first[0], second[0], first[1], first[2])]
        assert await s.complete(acks) == [True] * 5
        events = await s.read_events("0", 100)
        by_id = {i: [(e.kind, e.old, e.name, e.worker, e.attempt) for e in events if e.task_id == i] for i in ids}
        owner = {lz.task.id: "w1" for lz in first} | {lz.task.id: "w2" for lz in second}
        for task_id, name in zip(ids, names, strict=True):
            want = [("pending", None, name, None, 0), ("claimed", "pending", name, owner[task_id], 1)]
            if task_id in {a.task_id for a in acks}:
                want.append(("completed", "claimed", name, owner[task_id], 1))
            assert by_id[task_id] == want, task_id
    finally:
        await s.close()


async def test_a_timeline_reads_the_newest_events_of_a_full_stream(redis_server: RedisServer) -> None:
    """Redis keeps at least the retained number of events and trims once per eighth more: a
    task created last in a stream holding more than 10 000 events still shows its events."""
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)  # the default retention: 10 000 events
    await s.open()
    try:
        for b in range(11):  # 11 000 events, every one still kept (the next trim is at 11 250)
            assert await s.enqueue([rec(f"fill{b:02d}-{i:04d}") for i in range(1000)]) == [True] * 1000
        assert await s.enqueue([rec("last")]) == [True]
        assert len(await read_all(s, "0", 5000)) == 11_001  # none trimmed yet
        assert await views.task_events(s, "last", 10_000) == []  # what the scan of 10 000 missed
        events = await views.task_events(s, "last")
        assert [(e.old, e.kind) for e in events] == [(None, "pending")]
    finally:
        await s.close()


async def test_repeated_events_are_one_list_and_read_as_events_of_their_own(redis_server: RedisServer) -> None:
    """Events that repeat the one before in all but the task id are written as a list of ids
    (emit's x fields): a run broken by another name and taken up again, a run across the
    64-event edge of an entry, and an id with a space (written by hand: gdw refuses one) that is
    written as an event of its own, all read as one event per task, in order, ids ordered."""
    redis_server.cli("flushall")
    s = RedisStorage.from_url(redis_server.url)
    await s.open()
    try:
        names = ["m:a"] * 5 + ["m:b"] * 2 + ["m:a"] * 70
        ids = [f"r{i:03d}" for i in range(len(names))]
        assert await s.enqueue([TaskRecord(id=i, name=n, args=[1]) for i, n in zip(ids, names, strict=True)]) == [
            True
        ] * len(ids)
        p = s.keys.prefix("default")
        spaced = "hand made"
        redis_server.cli("hset", p + "t:" + spaced, "d", '{"name":"m:a","args":[],"kwargs":{}}', "n", "m:a",
                         "st", "pending", "cr", "1", "run", "1")  # fmt: skip
        redis_server.cli("zadd", p + "p", "3.5", spaced)  # in the middle of the first run of m:a
        leases = await s.claim("w", ["default"], 100, 30, 0)
        claimed_order = [lz.task.id for lz in leases]
        assert claimed_order[3] == spaced and claimed_order[:3] + claimed_order[4:] == ids
        events = await s.read_events("0", 1000)
        enqueued = [(e.task_id, e.name, e.kind) for e in events if e.kind == "pending"]
        assert enqueued == [(i, n, "pending") for i, n in zip(ids, names, strict=True)]
        claims = [(e.task_id, e.name, e.worker, e.attempt, e.old) for e in events if e.kind == "claimed"]
        by_id = dict(zip(ids, names, strict=True)) | {spaced: "m:a"}
        assert claims == [(i, by_id[i], "w", 1, "pending") for i in claimed_order]
        keys = [_stream_key(e.id) for e in events]
        assert keys == sorted(keys) and len(set(keys)) == len(keys) == 2 * len(ids) + 1
        for page in (1, 7, 64):  # paging through the lists gives the same events, none twice
            assert [e.id for e in await read_all(s, "0", page)] == [e.id for e in events]
    finally:
        await s.close()
