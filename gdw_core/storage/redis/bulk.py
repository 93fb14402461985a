"""The Redis side of re-runs and bulk actions: each step is one call of ``scripts/bulk.lua``
(bounded by its limit), mixed into :class:`~gdw_core.storage.redis.storage.RedisStorage`."""

from __future__ import annotations

from typing import Any

from gdw_core import bulk as B
from gdw_core.errors import TaskNotFound
from gdw_core.lifecycle import INDEX
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.reader import RedisReader


def _items(reply: list[Any]) -> list[B.Item]:
    return [B.Item(str(reply[j]), int(reply[j + 1]) == 1, str(reply[j + 2])) for j in range(4, len(reply), 3)]


def _window(value: float | None) -> str:
    return "" if value is None else repr(float(value))


class RedisBulk(RedisReader):
    @guarded
    async def rerun(self, task_id: str) -> B.Item:
        queue = await self._locate(task_id)
        if queue is None:
            raise TaskNotFound(task_id)
        reply = await self._run("bulk", queue, "t:" + task_id, B.Action.RETRY, "", task_id, 0, "", 1, "", "", "")
        item = _items(reply)[0]
        if item.reason == "missing":
            raise TaskNotFound(task_id)
        return item

    @guarded
    async def act_on(self, action: B.Action, task_id: str) -> B.Item:
        queue = await self._locate(task_id)
        if queue is None:
            return B.Item(task_id, False, "gone")
        reply = await self._run("bulk", queue, "t:" + task_id, str(action), "", task_id, 0, "", 1, "", "", "")
        item = _items(reply)[0]
        return B.Item(task_id, False, "gone") if item.reason == "missing" else item

    @guarded
    async def bulk(self, action: B.Action, flt: B.Filter, queue: str, cursor: B.Cursor, limit: int) -> B.Batch:
        reply = await self._run(
            "bulk",
            queue,
            INDEX[flt.state],
            str(action),
            str(flt.state),
            cursor.lo,
            cursor.ties,
            cursor.hi,
            int(limit),
            flt.name or "",
            _window(flt.since),
            _window(flt.before),
        )
        items = _items(reply)
        more = int(reply[3]) == 1
        return B.Batch(items, B.Cursor(str(reply[0]), int(reply[1]), str(reply[2])) if more else None)
