"""The invariants checked after every fault scenario.

* every submitted task reached exactly one terminal state (the one expected);
* every completed task has exactly one *completing* execution in the execution log: the result
  Redis accepted names an execution (by its id) that logged ``done`` for that task and attempt,
  and only once; with ``once=True`` (no fault that can cut an execution short) a task has exactly
  one execution at all;
* no task is left leased (``claimed`` or ``running``) without a live lease (its deadline ahead of Redis's clock, and in
  the index of its status);
* status never moved backwards: each task's events, read from the queue's event stream while
  the scenario ran, form one unbroken chain ``None -> pending|scheduled -> ... -> terminal``
  where every step ``(old, kind)`` is in :data:`gdw_core.status.TRANSITIONS`, with exactly one
  terminal event and at most one ``completed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdw_core.events import Event
from gdw_core.lifecycle import INDEX
from gdw_core.record import TaskRecord
from gdw_core.status import INITIAL, LEASED, TERMINAL, TRANSITIONS, TaskStatus
from gdw_core.storage.redis import RedisStorage
from gdw_core.storage.redis.reader import _events

S = TaskStatus


# -- the execution log ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Execution:
    task_id: str
    attempt: int
    pid: int
    phase: str
    exec_id: str
    at: float
    extra: dict[str, Any] = field(default_factory=dict)


def read_log(log_dir: Path) -> list[Execution]:
    """Every line of every worker's execution log. A process killed with -9 can leave at most a
    torn last line in its own file; any other unreadable line is an error."""
    out: list[Execution] = []
    for path in sorted(log_dir.glob("exec-*.log")):
        lines = path.read_bytes().split(b"\n")
        for i, raw in enumerate(lines):
            if not raw:
                continue
            try:
                d = json.loads(raw)
            except ValueError:
                assert i == len(lines) - 1, f"{path}: unreadable line {i}: {raw[:80]!r}"
                continue
            base = {"t", "a", "p", "ph", "x", "at"}
            extra = {k: v for k, v in d.items() if k not in base}
            out.append(Execution(d["t"], int(d["a"]), int(d["p"]), d["ph"], d["x"], float(d["at"]), extra))
    return out


# -- the event stream -------------------------------------------------------------------------
class EventTail:
    """Reads a queue's event stream while a scenario runs (the stream is capped, so it is read as
    it grows rather than at the end). Survives Redis outages: it just reads again later."""

    def __init__(self, url: str, queue: str = "default") -> None:
        self.storage = RedisStorage.from_url(url)
        self.key = self.storage.keys.prefix(queue) + "ev"
        self.events: list[Event] = []
        self.cursor = "-"
        self.first_seen: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one read at a time: the cursor moves after each

    async def start(self) -> EventTail:
        await self.storage.open()
        self._task = asyncio.create_task(self._run())
        return self

    async def _read(self) -> int:
        async with self._lock:
            return await self._read_locked()

    async def _read_locked(self) -> int:
        rows = await self.storage.client.xrange(self.key, self.cursor, "+", count=5000)
        for event_id, fields in rows:
            if self.first_seen is None:
                self.first_seen = event_id
            self.events.extend(_events(event_id, fields))
        if rows:
            self.cursor = f"({rows[-1][0]}"
        return len(rows)

    async def _run(self) -> None:
        while True:
            try:
                n = await self._read()
            except asyncio.CancelledError:
                raise
            except Exception:  # the Redis under test is down or frozen: try again soon
                await asyncio.sleep(0.1)
                continue
            if n == 0:
                await asyncio.sleep(0.05)

    async def catch_up(self, timeout: float = 60) -> None:
        """Until everything in the stream now has been read: reads of its own, each sent after
        this call began (a read already in flight may predate the latest events), until one
        finds nothing new."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if await self._read() == 0:
                        return
                except Exception:  # the Redis under test is down or frozen: again soon
                    await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self._task is not None:
            await self.catch_up()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.storage.close()

    def by_task(self) -> dict[str, list[Event]]:
        out: dict[str, list[Event]] = defaultdict(list)
        for e in self.events:
            if e.task_id and e.kind in TaskStatus.__members__.values():
                out[e.task_id].append(e)
        return out


def check_transitions(events: Mapping[str, list[Event]], ids: Iterable[str], records: Mapping[str, TaskRecord]) -> None:
    for task_id in ids:
        chain = events.get(task_id)
        assert chain, f"{task_id}: no events recorded"
        first = chain[0]
        assert first.old is None and S(first.kind) in INITIAL, f"{task_id}: starts with {first.old}->{first.kind}"
        for prev, e in itertools.pairwise(chain):
            assert e.old is not None, f"{task_id}: created twice ({e.kind} with no previous status)"
            old, new = S(e.old), S(e.kind)
            assert old == S(prev.kind), f"{task_id}: chain broken: {prev.kind} then {e.old}->{e.kind}"
            assert new in TRANSITIONS[old], f"{task_id}: status moved {old} -> {new}"
        kinds = Counter(e.kind for e in chain)
        assert sum(kinds[str(t)] for t in TERMINAL) == 1, f"{task_id}: terminal events {kinds}"
        assert kinds["completed"] <= 1, f"{task_id}: completed {kinds['completed']} times"
        assert S(chain[-1].kind) == records[task_id].status, f"{task_id}: last event {chain[-1].kind}"


# -- leases -------------------------------------------------------------------------------------
async def check_leases(storage: RedisStorage, queue: str = "default") -> int:
    """No task is leased (claimed or running) without a live lease. Returns how many tasks are
    leased. Each task is read atomically (MULTI): its status, its lease deadline and its place in
    the index of its leased status."""
    client = storage.client
    prefix = storage.keys.prefix(queue)
    suffix = {status.value: INDEX[status] for status in LEASED}
    leased = 0

    async def read(task_id: str) -> tuple[str | None, str | None, dict[str, float | None], float]:
        pipe = client.pipeline(transaction=True)
        pipe.hmget(prefix + "t:" + task_id, "st", "dl")
        for key in suffix.values():
            pipe.zscore(prefix + key, task_id)
        pipe.time()
        (status, deadline), *scores, (sec, usec) = await pipe.execute()
        return status, deadline, dict(zip(suffix, scores, strict=True)), float(sec) + float(usec) / 1e6

    async for key in client.scan_iter(match=prefix + "t:*", count=1000):
        task_id = key[len(prefix) + 2 :]
        status, deadline, scores, now = await read(task_id)
        if status not in suffix:
            continue
        leased += 1
        assert scores[status] is not None, f"{task_id} is {status} but not in its index (no lease)"
        # the recoverer runs about every lease/3; allow it that long (plus slack) to notice
        assert deadline and float(deadline) > now - 5.0, f"{task_id} is {status} on a lease that expired long ago"
    for status, key in suffix.items():
        for task_id in await client.zrange(prefix + key, 0, -1):
            found, _, scores, _ = await read(task_id)
            assert scores[status] is None or found in (None, status), f"{task_id} is in the {status} index but {found}"
    return leased


# -- the whole check ---------------------------------------------------------------------------
@dataclass
class Outcome:
    records: dict[str, TaskRecord]
    executions: list[Execution]
    events: dict[str, list[Event]]

    def runs(self, task_id: str, phase: str = "start") -> list[Execution]:
        return [x for x in self.executions if x.task_id == task_id and x.phase == phase]


async def fetch(storage: RedisStorage, ids: list[str]) -> dict[str, TaskRecord]:
    out: dict[str, TaskRecord] = {}
    for i in range(0, len(ids), 100):
        part = ids[i : i + 100]
        for task_id, rec in zip(part, await asyncio.gather(*(storage.get(t) for t in part)), strict=True):
            assert rec is not None, f"task {task_id} is gone"
            out[task_id] = rec
    return out


async def check(
    storage: RedisStorage,
    ids: list[str],
    log_dir: Path,
    tail: EventTail,
    *,
    expect: TaskStatus | Mapping[str, TaskStatus] = S.COMPLETED,
    once: bool = False,
) -> Outcome:
    await tail.catch_up()
    records = await fetch(storage, ids)
    executions = read_log(log_dir)
    # 1. exactly one terminal state, the expected one
    for task_id, rec in records.items():
        want = expect if isinstance(expect, TaskStatus) else expect[task_id]
        assert rec.status.terminal, f"{task_id} ended {rec.status}, not terminal"
        assert rec.status is want, f"{task_id} ended {rec.status}, expected {want}: {rec.errors[-1:]}"
    # 2. each completion names exactly one execution that finished
    done: dict[str, list[Execution]] = defaultdict(list)
    started: Counter[str] = Counter()
    for x in executions:
        if x.phase == "done":
            done[x.exec_id].append(x)
        elif x.phase == "start":
            started[x.task_id] += 1
    for task_id, rec in records.items():
        if rec.status is not S.COMPLETED:
            continue
        assert isinstance(rec.result, dict) and "x" in rec.result, f"{task_id}: result {rec.result!r}"
        finishing = done.get(rec.result["x"], [])
        assert len(finishing) == 1, f"{task_id}: {len(finishing)} logged completions of the accepted execution"
        x = finishing[0]
        assert x.task_id == task_id and x.attempt == rec.attempts, f"{task_id}: accepted {x}, record {rec.attempts}"
        if once:
            assert started[task_id] == 1, f"{task_id} ran {started[task_id]} times with no fault to excuse it"
    # 3. nothing running without a lease
    await check_leases(storage)
    # 4. statuses only moved forwards
    events = tail.by_task()
    check_transitions(events, ids, records)
    return Outcome(records, executions, events)
