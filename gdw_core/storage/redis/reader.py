"""The read side of the Redis storage (inspect): bounded reads only, never a scan of every task."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import ResponseError

from gdw_core.codec import loads
from gdw_core.errors import InvalidPayload
from gdw_core.events import Event
from gdw_core.lifecycle import LISTED_OLDEST_FIRST, WORKER_HISTORY_MAX, WORKER_HISTORY_SECONDS, is_live
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import Mark, QueueInfo
from gdw_core.storage.redis.base import RedisBase
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.encoding import from_hash
from gdw_core.storage.redis.keys import INDEX
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.redis")

_ASCENDING = {s.value for s in LISTED_OLDEST_FIRST}


def _rows(value: Any, what: str) -> Any:
    """A pipelined reply, or an empty one (logged) when its key could not be read (WRONGTYPE)."""
    if isinstance(value, Exception):
        log.error("%s cannot be read: %s", what, value)
        return []
    return value


def _past(rows: Any, after: Mark | None, forward: bool) -> list[tuple[float, str]]:
    """The index entries of a read that lie past ``after`` (the read starts at its score,
    inclusive; ties at that score are ordered by id)."""
    out: list[tuple[float, str]] = []
    for task_id, score in rows:
        mark = (float(score), str(task_id))
        if after is None or (mark > after if forward else mark < after):
            out.append(mark)
    return out


def _number(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _stream_key(event_id: str) -> tuple[int, int, int]:
    """An event id's order: "<ms>-<seq>" (a stream entry of one event) or "<ms>-<seq>.<i>" (the
    i-th event, from 0, of an entry of several)."""
    entry, _, sub = event_id.partition(".")
    ms, _, seq = entry.partition("-")
    return int(ms or 0), int(seq or 0), int(sub or 0)


def _malformed(task_id: str, queue: str, h: dict[str, str], exc: Exception) -> TaskRecord:
    """What inspect shows for a stored record that cannot be read (hand-edited, corrupted, not a
    hash): its status as stored (failed when it has none) and an InvalidPayload error."""
    try:
        status = TaskStatus(h.get("st", "failed"))
    except (ValueError, TypeError):
        status = TaskStatus.FAILED
    errors = [AttemptError(0, "InvalidPayload", str(exc), "", 0.0)]
    try:  # what the storage already recorded about it (e.g. why it was failed) comes first
        stored = loads(h["errs"], "errors") if h.get("errs") else []
        errors = [AttemptError.from_dict(e) for e in stored if isinstance(e, dict)] + errors
    except (InvalidPayload, ValueError, TypeError, RecursionError):
        pass
    return TaskRecord(id=task_id, name=h.get("n") or "?", status=status, queue=queue, errors=errors)


class RedisReader(RedisBase):
    @guarded
    async def now(self) -> float:
        sec, usec = await self.client.time()
        return float(sec) + float(usec) / 1e6

    def _record(self, task_id: str, queue: str, h: dict[str, str]) -> TaskRecord:
        try:
            return from_hash(task_id, h, self.read_limits)
        except InvalidPayload as exc:
            return _malformed(task_id, queue, h, exc)

    @guarded
    async def get(self, task_id: str) -> TaskRecord | None:
        queue = await self._locate(task_id)
        if queue is None:
            return None
        h = await self._hash(queue, task_id)
        if isinstance(h, TaskRecord):
            return h
        if not h:
            self._where.pop(task_id, None)
            queue = await self._locate(task_id)
            if queue is None:
                return None
            h = await self._hash(queue, task_id)
            if isinstance(h, TaskRecord):
                return h
            if not h:
                return None
        return self._record(task_id, queue, h)

    async def _hash(self, queue: str, task_id: str) -> dict[str, str] | TaskRecord:
        try:
            h: dict[str, str] = await self.client.hgetall(self.keys.task(queue, task_id))
        except ResponseError as exc:  # WRONGTYPE: the key is not a task hash
            return _malformed(task_id, queue, {}, InvalidPayload(f"task {task_id}: the key is not a task hash ({exc})"))
        return h

    async def _counts_of(
        self, queues: list[str], unreadable: dict[str, dict[str, str]] | None = None
    ) -> list[dict[TaskStatus, int]]:
        """Each queue's count per status (ZCARD of its index). An index that cannot be read (a key
        of another type) counts 0, and when ``unreadable`` is given it gets queue -> status -> why."""
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            for status in TaskStatus:
                pipe.zcard(self.keys.index(q, status.value))
        replies = await pipe.execute(raise_on_error=False) if queues else []
        n = len(TaskStatus)
        if unreadable is not None:
            for j, reply in enumerate(replies):
                if isinstance(reply, Exception):
                    status = list(TaskStatus)[j % n]
                    unreadable.setdefault(queues[j // n], {})[status.value] = str(reply)[:300]
        flat = [_number(v) for v in replies]
        return [dict(zip(TaskStatus, flat[i * n : (i + 1) * n], strict=True)) for i in range(len(queues))]

    @guarded
    async def counts(self, queue: str | None = None) -> dict[TaskStatus, int]:
        queues = [self._checked(queue)] if queue is not None else await self._all_queues()
        total = dict.fromkeys(TaskStatus, 0)
        for counts in await self._counts_of(queues):
            for status, n in counts.items():
                total[status] += n
        return total

    @guarded
    async def list_tasks(
        self, status: TaskStatus, queue: str | None = None, offset: int = 0, limit: int = 50
    ) -> list[TaskRecord]:
        status = TaskStatus(status)
        if limit <= 0:
            return []
        queues = [self._checked(queue)] if queue is not None else await self._all_queues()
        asc = status.value in _ASCENDING
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            key = self.keys.index(q, status.value)
            if asc:
                pipe.zrange(key, 0, offset + limit - 1, withscores=True)
            else:
                pipe.zrevrange(key, 0, offset + limit - 1, withscores=True)
        ranked: list[tuple[float, str, str]] = []
        for q, rows in zip(queues, await pipe.execute(raise_on_error=False) if queues else [], strict=True):
            ranked.extend((score, task_id, q) for task_id, score in _rows(rows, f"the {status} index of {q!r}"))
        ranked.sort(key=lambda r: r[0], reverse=not asc)
        page = ranked[offset : offset + limit]
        if not page:
            return []
        pipe = self.client.pipeline(transaction=False)
        for _, task_id, q in page:
            pipe.hgetall(self.keys.task(q, task_id))
        out = []
        for (_, task_id, q), h in zip(page, await pipe.execute(raise_on_error=False), strict=True):
            if isinstance(h, Exception):  # WRONGTYPE: shown as unreadable, never fails the view
                problem = InvalidPayload(f"task {task_id}: the key is not a task hash ({h})")
                out.append(_malformed(task_id, q, {"st": status.value}, problem))
            elif h and h.get("st") == status.value:
                out.append(self._record(task_id, q, h))
        return out

    @guarded
    async def list_after(
        self,
        status: TaskStatus,
        queue: str | None = None,
        after: Mark | None = None,
        limit: int = 50,
        reverse: bool = False,
    ) -> list[tuple[Mark, TaskRecord]]:
        status = TaskStatus(status)
        if limit <= 0:
            return []
        queues = [self._checked(queue)] if queue is not None else await self._all_queues()
        forward = (status.value in _ASCENDING) != reverse
        ranked: list[tuple[float, str, str]] = []
        pipe = self.client.pipeline(transaction=False)  # every queue's first read in one round trip
        for q in queues:
            self._after_read(pipe, q, status, after, 0, limit + 1, forward)
        replies = await pipe.execute(raise_on_error=False) if queues else []
        for q, rows in zip(queues, replies, strict=True):
            marks = _past(_rows(rows, f"the {status} index of {q!r}"), after, forward)
            if not isinstance(rows, Exception) and len(rows) == limit + 1 and len(marks) < limit:
                marks = await self._after_in(q, status, after, limit, forward)  # ties at the cursor: read on
            ranked.extend((score, task_id, q) for score, task_id in marks[:limit])
        ranked.sort(key=lambda r: (r[0], r[1]), reverse=not forward)
        page = ranked[:limit]
        if not page:
            return []
        pipe = self.client.pipeline(transaction=False)
        for _, task_id, q in page:
            pipe.hgetall(self.keys.task(q, task_id))
        out: list[tuple[Mark, TaskRecord]] = []
        for (score, task_id, q), h in zip(page, await pipe.execute(raise_on_error=False), strict=True):
            if isinstance(h, Exception):  # WRONGTYPE: shown as unreadable, never fails the view
                problem = InvalidPayload(f"task {task_id}: the key is not a task hash ({h})")
                out.append(((score, task_id), _malformed(task_id, q, {"st": status.value}, problem)))
            elif h and h.get("st") == status.value:
                out.append(((score, task_id), self._record(task_id, q, h)))
        return out

    async def _after_in(
        self, queue: str, status: TaskStatus, after: Mark | None, limit: int, forward: bool
    ) -> list[tuple[float, str]]:
        """One queue's next ``limit`` index entries past ``after``: read from ``after``'s score
        (inclusive), skipping the entries at that score that are not past it (ties are ordered by
        id, as Redis orders them); more reads only while a read held nothing but such ties."""
        out: list[tuple[float, str]] = []
        skip = 0
        while len(out) < limit:
            want = limit - len(out) + 1
            pipe = self.client.pipeline(transaction=False)
            self._after_read(pipe, queue, status, after, skip, want, forward)
            [rows] = await pipe.execute(raise_on_error=False)
            if isinstance(rows, Exception):  # WRONGTYPE: this queue's index cannot be read
                log.error("the %s index of %r cannot be read: %s", status, queue, rows)
                return out
            out.extend(_past(rows, after, forward))
            if len(rows) < want:
                break
            skip += len(rows)
        return out[:limit]

    def _after_read(
        self, pipe: Any, queue: str, status: TaskStatus, after: Mark | None, skip: int, num: int, forward: bool
    ) -> None:
        """Queue one read of ``queue``'s index from ``after``'s score (inclusive) on."""
        key = self.keys.index(queue, status.value)
        if forward:
            low = after[0] if after is not None else "-inf"
            pipe.zrangebyscore(key, low, "+inf", start=skip, num=num, withscores=True)
        else:
            high = after[0] if after is not None else "+inf"
            pipe.zrevrangebyscore(key, high, "-inf", start=skip, num=num, withscores=True)

    def _checked(self, queue: str) -> str:
        self.keys.prefix(queue)  # InvalidTask for a name outside the grammar
        return queue

    @guarded
    async def queues(self) -> list[QueueInfo]:
        names = set(await self._all_queues(fresh=True))
        try:
            names |= set(self._valid_names(await self.client.smembers(self.keys.paused)))
        except ResponseError as exc:
            log.error("the paused-queue list cannot be read: %s", exc)
        queues = sorted(names)
        if not queues:
            return []
        unreadable: dict[str, dict[str, str]] = {}
        counts = await self._counts_of(queues, unreadable)
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            pipe.exists(self.keys.prefix(q) + "paused")
            pipe.zrange(self.keys.index(q, "pending"), 0, 0)
        flat = [_rows(v, "a queue's state") for v in await pipe.execute(raise_on_error=False)]
        firsts = {q: flat[2 * i + 1][0] for i, q in enumerate(queues) if flat[2 * i + 1]}
        pipe = self.client.pipeline(transaction=False)
        for q, task_id in firsts.items():
            pipe.hget(self.keys.task(q, task_id), "run")
        runs = dict(zip(firsts, await pipe.execute(raise_on_error=False) if firsts else [], strict=True))
        out = []
        for i, q in enumerate(queues):
            run = runs.get(q)
            try:
                oldest = float(run) if isinstance(run, str) and run else None
            except ValueError:
                oldest = None
            counted = {str(k): v for k, v in counts[i].items()}
            out.append(QueueInfo(q, bool(flat[2 * i]), counted, oldest, unreadable.get(q, {})))
        return out

    @guarded
    async def workers(self) -> list[WorkerInfo]:
        """Every record of the bounded history: live, draining, stopped and dead workers (a dead
        one keeps its last record, with what it held). last_seen is the storage's time of its
        last beat. Records older than the history window are dropped; of the ones not live, the
        newest WORKER_HISTORY_MAX are shown."""
        rows = await self.client.zrange(self.keys.workers, 0, -1, withscores=True)
        if not rows:
            return []
        now = await self.now()
        ids = [worker_id for worker_id, _ in rows]
        pipe = self.client.pipeline(transaction=False)
        for w in ids:
            pipe.get(self.keys.worker(w))
        records = await pipe.execute(raise_on_error=False)
        live: list[WorkerInfo] = []
        history: list[WorkerInfo] = []
        for (worker_id, seen), raw in zip(rows, records, strict=True):
            if raw is None or now - float(seen) > WORKER_HISTORY_SECONDS:
                continue  # beyond the history window (the next beat trims it)
            try:
                if isinstance(raw, Exception):
                    raise InvalidPayload(str(raw))
                info = WorkerInfo.from_dict(loads(raw, "worker record"))
            except (InvalidPayload, KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                if worker_id not in self._unreadable_workers and len(self._unreadable_workers) < 1000:
                    self._unreadable_workers.add(worker_id)  # said once per worker, not every refresh
                    log.warning("skipping the unreadable record of worker %r: %s", worker_id, exc)
                continue
            info.last_seen = float(seen)
            (live if is_live(info, now) else history).append(info)
        history.sort(key=lambda w: w.last_seen, reverse=True)
        return live + history[:WORKER_HISTORY_MAX]

    @guarded
    async def recurring(self) -> list[RecurringEntry]:
        queues = await self._all_queues(fresh=True)
        if not queues:
            return []
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            pipe.hgetall(self.keys.prefix(q) + "rec")
            pipe.zrange(self.keys.prefix(q) + "recdue", 0, -1, withscores=True)
        flat = await pipe.execute(raise_on_error=False)
        out = []
        for i, q in enumerate(queues):
            due = dict(_rows(flat[2 * i + 1], f"the recurring schedule of {q!r}"))
            entries = _rows(flat[2 * i], f"the recurring entries of {q!r}") or {}
            for entry_id, raw in entries.items():
                try:
                    entry = RecurringEntry.from_dict(loads(raw, "recurring entry"))
                except (InvalidPayload, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                    log.warning("skipping the unreadable recurring entry %r of queue %r: %s", entry_id, q, exc)
                    continue
                if entry_id in due:
                    entry.next_run = float(due[entry_id])
                out.append(entry)
        return sorted(out, key=lambda e: e.next_run)

    # -- events --------------------------------------------------------------------------------
    async def _streams(self) -> list[str]:
        return [self.keys.events] + [self.keys.prefix(q) + "ev" for q in await self._all_queues()]

    @guarded
    async def last_event_id(self) -> str:
        streams = await self._streams()
        pipe = self.client.pipeline(transaction=False)
        for key in streams:
            pipe.xrevrange(key, "+", "-", count=1)
        replies = await pipe.execute(raise_on_error=False)
        newest = [_events(*rows[0])[-1].id for rows in replies if rows and not isinstance(rows, Exception)]
        return max(newest, key=_stream_key) if newest else "0"

    async def _read_once(self, after: str, limit: int) -> list[Event]:
        streams = await self._streams()
        # an entry holds the events of one script call (up to 64): after "<entry>.<i>" that entry
        # is read again (inclusive) and its events up to i are dropped. Each stream is read in
        # growing steps until it gives `limit` events, so a dense stream is not read far past them.
        if after in ("0", "0-0", ""):
            start, mark = "-", (-1, -1, -1)
        else:
            mark = _stream_key(after)
            start = after.partition(".")[0] if "." in after else f"({after}"
        wanted = {key: (start, min(limit + 1, 32)) for key in streams}
        got: dict[str, list[Event]] = {key: [] for key in streams}
        while wanted:
            pipe = self.client.pipeline(transaction=False)
            for key, (first, count) in wanted.items():
                pipe.xrange(key, first, "+", count=count)
            more = {}
            for (key, (_, count)), batch in zip(wanted.items(), await pipe.execute(raise_on_error=False), strict=True):
                rows = _rows(batch, f"the event stream {key}")
                events = got[key]
                for event_id, fields in rows:
                    events.extend(e for e in _events(event_id, fields) if _stream_key(e.id) > mark)
                if len(rows) == count and len(events) < limit:
                    more[key] = (f"({rows[-1][0]}", min(count * 2, limit + 1))
            wanted = more
        merged = [e for events in got.values() for e in events[:limit]]
        merged.sort(key=lambda e: _stream_key(e.id))
        return merged[:limit]

    @guarded
    async def read_events(self, after: str, limit: int = 500, wait: float = 0.0) -> list[Event]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            events = await self._read_once(after, limit)
            if events or loop.time() >= deadline:
                return events
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))


def _events(entry_id: str, f: dict[str, Any]) -> list[Event]:
    """The events of one stream entry (see ``emit`` in _prelude.lua): the first from the fields
    k t o n q w a d; the i-th explicit one after it from k.i and those of t.i o.i n.i w.i a.i d.i
    that differ from the explicit event before it (an absent one repeats it); after each explicit
    event, one event per task id in its x field (x.i; x for the first): the same event for that
    task. The queue is the entry's. An entry written by hand with other fields still gives one
    event. Ids: the entry's for an entry of one event, else "<entry id>.<n>", n counting the
    entry's events from 0 (see _stream_key)."""
    at = _stream_key(entry_id)[0] / 1000.0  # ids are Redis's own: always "<ms>-<seq>"
    queue = f.get("q") or None
    row = [f.get(name, "") for name in _COLUMNS]
    repeats = f.get("x")
    if "k.1" not in f and not isinstance(repeats, str):  # one event: the entry's id
        return [_event(entry_id, at, queue, row)]
    out: list[Event] = []
    i = 0
    while True:
        out.append(_event(f"{entry_id}.{len(out)}", at, queue, row))
        if isinstance(repeats, str):
            for task_id in repeats.split(" "):
                if task_id:
                    out.append(_event(f"{entry_id}.{len(out)}", at, queue, [row[0], task_id, *row[2:]]))
        i += 1
        kind = f.get(f"k.{i}")
        if kind is None:
            return out
        row = [kind] + [f.get(f"{name}.{i}", before) for name, before in zip(_COLUMNS[1:], row[1:], strict=True)]
        repeats = f.get(f"x.{i}")


#: an event's fields in a stream entry (and the order of _event's row)
_COLUMNS = ("k", "t", "o", "n", "w", "a", "d")


def _event(event_id: str, at: float, queue: str | None, row: list[Any]) -> Event:
    kind, task_id, old, name, worker, attempt, detail = row
    return Event(
        id=event_id,
        at=at,
        kind=kind if isinstance(kind, str) else "",
        task_id=task_id or None,
        old=old or None,
        name=name or None,
        queue=queue,
        worker=worker or None,
        attempt=int(attempt) if isinstance(attempt, str) and attempt.isdigit() else None,
        detail=detail or None,
    )


__all__ = ["INDEX", "RedisReader"]
