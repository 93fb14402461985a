"""The read side of the Redis storage (inspect): bounded reads only, never a scan of every task."""

from __future__ import annotations

import asyncio
from typing import Any

from gdw_core.codec import loads
from gdw_core.errors import InvalidPayload
from gdw_core.events import Event
from gdw_core.record import AttemptError, TaskRecord
from gdw_core.recurring import RecurringEntry
from gdw_core.status import TaskStatus
from gdw_core.storage.protocol import QueueInfo
from gdw_core.storage.redis.base import RedisBase
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.encoding import from_hash
from gdw_core.storage.redis.keys import INDEX
from gdw_core.workerinfo import WorkerInfo

_ASCENDING = {"pending", "scheduled", "retrying", "running"}


def _stream_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms or 0), int(seq or 0)


def _malformed(task_id: str, queue: str, h: dict[str, str], exc: Exception) -> TaskRecord:
    """What inspect shows for a stored record that cannot be read (hand-edited, corrupted)."""
    try:
        status = TaskStatus(h.get("st", "failed"))
    except ValueError:
        status = TaskStatus.FAILED
    err = AttemptError(0, "InvalidPayload", str(exc), "", 0.0)
    return TaskRecord(id=task_id, name=h.get("n") or "?", status=status, queue=queue, errors=[err])


class RedisReader(RedisBase):
    @guarded
    async def now(self) -> float:
        sec, usec = await self.client.time()
        return float(sec) + float(usec) / 1e6

    def _record(self, task_id: str, queue: str, h: dict[str, str]) -> TaskRecord:
        try:
            return from_hash(task_id, h)
        except InvalidPayload as exc:
            return _malformed(task_id, queue, h, exc)

    @guarded
    async def get(self, task_id: str) -> TaskRecord | None:
        queue = await self._locate(task_id)
        if queue is None:
            return None
        h = await self.client.hgetall(self.keys.task(queue, task_id))
        if not h:
            self._where.pop(task_id, None)
            queue = await self._locate(task_id)
            if queue is None:
                return None
            h = await self.client.hgetall(self.keys.task(queue, task_id))
            if not h:
                return None
        return self._record(task_id, queue, h)

    async def _counts_of(self, queues: list[str]) -> list[dict[TaskStatus, int]]:
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            for status in TaskStatus:
                pipe.zcard(self.keys.index(q, status.value))
        flat = await pipe.execute() if queues else []
        n = len(TaskStatus)
        return [dict(zip(TaskStatus, flat[i * n : (i + 1) * n], strict=True)) for i in range(len(queues))]

    @guarded
    async def counts(self, queue: str | None = None) -> dict[TaskStatus, int]:
        queues = [queue] if queue is not None else await self._all_queues()
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
        queues = [queue] if queue is not None else await self._all_queues()
        asc = status.value in _ASCENDING
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            key = self.keys.index(q, status.value)
            if asc:
                pipe.zrange(key, 0, offset + limit - 1, withscores=True)
            else:
                pipe.zrevrange(key, 0, offset + limit - 1, withscores=True)
        ranked: list[tuple[float, str, str]] = []
        for q, rows in zip(queues, await pipe.execute() if queues else [], strict=True):
            ranked.extend((score, task_id, q) for task_id, score in rows)
        ranked.sort(key=lambda r: r[0], reverse=not asc)
        page = ranked[offset : offset + limit]
        if not page:
            return []
        pipe = self.client.pipeline(transaction=False)
        for _, task_id, q in page:
            pipe.hgetall(self.keys.task(q, task_id))
        out = []
        for (_, task_id, q), h in zip(page, await pipe.execute(), strict=True):
            if h and h.get("st") == status.value:
                out.append(self._record(task_id, q, h))
        return out

    @guarded
    async def queues(self) -> list[QueueInfo]:
        names = set(await self._all_queues(fresh=True))
        names |= set(await self.client.smembers(self.keys.paused))
        queues = sorted(names)
        if not queues:
            return []
        counts = await self._counts_of(queues)
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            pipe.exists(self.keys.prefix(q) + "paused")
            pipe.zrange(self.keys.index(q, "pending"), 0, 0)
        flat = await pipe.execute()
        firsts = {q: flat[2 * i + 1][0] for i, q in enumerate(queues) if flat[2 * i + 1]}
        pipe = self.client.pipeline(transaction=False)
        for q, task_id in firsts.items():
            pipe.hget(self.keys.task(q, task_id), "run")
        runs = dict(zip(firsts, await pipe.execute() if firsts else [], strict=True))
        out = []
        for i, q in enumerate(queues):
            run = runs.get(q)
            oldest = float(run) if run else None
            out.append(QueueInfo(q, bool(flat[2 * i]), {str(k): v for k, v in counts[i].items()}, oldest))
        return out

    @guarded
    async def workers(self) -> list[WorkerInfo]:
        rows = await self.client.zrange(self.keys.workers, 0, -1, withscores=True)
        if not rows:
            return []
        ids = [worker_id for worker_id, _ in rows]
        records = await self.client.mget([self.keys.worker(w) for w in ids])
        out, gone = [], []
        for (worker_id, seen), raw in zip(rows, records, strict=True):
            if raw is None:
                gone.append(worker_id)
                continue
            try:
                info = WorkerInfo.from_dict(loads(raw, "worker record"))
            except (InvalidPayload, KeyError, TypeError, ValueError):
                continue
            info.last_seen = float(seen)
            out.append(info)
        if gone:  # records expired: the workers died without saying goodbye
            await self.client.zrem(self.keys.workers, *gone)
        return out

    @guarded
    async def recurring(self) -> list[RecurringEntry]:
        queues = await self._all_queues(fresh=True)
        if not queues:
            return []
        pipe = self.client.pipeline(transaction=False)
        for q in queues:
            pipe.hgetall(self.keys.prefix(q) + "rec")
            pipe.zrange(self.keys.prefix(q) + "recdue", 0, -1, withscores=True)
        flat = await pipe.execute()
        out = []
        for i in range(len(queues)):
            due = dict(flat[2 * i + 1])
            for entry_id, raw in flat[2 * i].items():
                try:
                    entry = RecurringEntry.from_dict(loads(raw, "recurring entry"))
                except (InvalidPayload, ValueError):
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
        newest = [rows[0][0] for rows in await pipe.execute() if rows]
        return max(newest, key=_stream_key) if newest else "0"

    async def _read_once(self, after: str, limit: int) -> list[Event]:
        streams = await self._streams()
        start = "-" if after in ("0", "0-0", "") else f"({after}"
        pipe = self.client.pipeline(transaction=False)
        for key in streams:
            pipe.xrange(key, start, "+", count=limit)
        rows: list[tuple[str, dict[str, str]]] = []
        for batch in await pipe.execute():
            rows.extend(batch)
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
    ms = _stream_key(event_id)[0]
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
        attempt=int(attempt) if attempt not in (None, "") else None,
        detail=f.get("d") or None,
    )


__all__ = ["INDEX", "RedisReader"]
