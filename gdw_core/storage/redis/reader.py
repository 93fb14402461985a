"""The read side of the Redis storage (inspect): bounded reads only, never a scan of every task."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import ResponseError

from gdw_core.codec import loads
from gdw_core.errors import InvalidPayload
from gdw_core.events import Event
from gdw_core.lifecycle import WORKER_HISTORY_MAX, WORKER_HISTORY_SECONDS, is_live
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import QueueInfo
from gdw_core.storage.redis.base import RedisBase
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.encoding import from_hash
from gdw_core.storage.redis.keys import INDEX
from gdw_core.workerinfo import WorkerInfo

log = logging.getLogger("gdw.redis")

_ASCENDING = {"pending", "scheduled", "retrying", "throttled", "claimed", "running"}


def _rows(value: Any, what: str) -> Any:
    """A pipelined reply, or an empty one (logged) when its key could not be read (WRONGTYPE)."""
    if isinstance(value, Exception):
        log.error("%s cannot be read: %s", what, value)
        return []
    return value


def _number(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _stream_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms or 0), int(seq or 0)


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

    async def _counts_of(self, queues: list[str]) -> list[dict[TaskStatus, int]]:
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            for status in TaskStatus:
                pipe.zcard(self.keys.index(q, status.value))
        flat = [_number(v) for v in await pipe.execute(raise_on_error=False)] if queues else []
        n = len(TaskStatus)
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
        counts = await self._counts_of(queues)
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
            out.append(QueueInfo(q, bool(flat[2 * i]), {str(k): v for k, v in counts[i].items()}, oldest))
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
        newest = [rows[0][0] for rows in replies if rows and not isinstance(rows, Exception)]
        return max(newest, key=_stream_key) if newest else "0"

    async def _read_once(self, after: str, limit: int) -> list[Event]:
        streams = await self._streams()
        start = "-" if after in ("0", "0-0", "") else f"({after}"
        pipe = self.client.pipeline(transaction=False)
        for key in streams:
            pipe.xrange(key, start, "+", count=limit)
        rows: list[tuple[str, dict[str, str]]] = []
        for key, batch in zip(streams, await pipe.execute(raise_on_error=False), strict=True):
            rows.extend(_rows(batch, f"the event stream {key}"))
        rows.sort(key=lambda r: _stream_key(r[0]))
        return [_event(event_id, fields) for event_id, fields in rows[:limit]]

    @guarded
    async def read_events(self, after: str, limit: int = 500, wait: float = 0.0) -> list[Event]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            events = await self._read_once(after, limit)
            if events or loop.time() >= deadline:
                return events
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))


def _event(event_id: str, f: dict[str, Any]) -> Event:
    ms = _stream_key(event_id)[0]  # ids are Redis's own: always "<ms>-<seq>"
    attempt = f.get("a")
    return Event(
        id=event_id,
        at=ms / 1000.0,
        kind=f.get("k", ""),
        task_id=f.get("t") or None,
        old=f.get("o") or None,
        name=f.get("n") or None,
        queue=f.get("q") or None,
        worker=f.get("w") or None,
        attempt=int(attempt) if isinstance(attempt, str) and attempt.isdigit() else None,
        detail=f.get("d") or None,
    )


__all__ = ["INDEX", "RedisReader"]
