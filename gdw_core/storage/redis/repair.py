"""The Redis side of ``gdw repair`` (gdw_core.repair), mixed into
:class:`~gdw_core.storage.redis.storage.RedisStorage`: one call of ``scripts/repair.lua`` moves the
queue's garbage indexes aside, then the queue's task records are walked with SCAN (MATCH
``<prefix>t:*``) and each page of ids is re-indexed by one more call of the same script (which
also fails the records that are not tasks, when asked to)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gdw_core import repair as R
from gdw_core.status import TaskStatus
from gdw_core.storage.redis.connection import guarded
from gdw_core.storage.redis.reader import RedisReader

#: keys each SCAN step looks at (Redis's COUNT hint)
SCAN_COUNT = 300
#: task ids per re-indexing script call
BATCH = 500

#: what SCAN's MATCH reads as a pattern (a queue name holds none of these; a namespace might)
_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


class RedisRepair(RedisReader):
    @guarded
    async def repair(self, queue: str, dry_run: bool = False, fail_unreadable: bool = False) -> R.QueueRepair:
        report = R.QueueRepair(queue, dry_run)
        flag = "1" if dry_run else "0"
        fail = "1" if fail_unreadable else "0"
        aside = await self._run("repair", queue, "p", "aside", flag)
        for j in range(0, len(aside), 3):
            status = TaskStatus(aside[j])
            key = self.keys.index(queue, status.value)
            report.moved_aside.append(R.MovedIndex(status, key, str(aside[j + 1]), str(aside[j + 2])))
        async for ids in self._task_ids(queue):
            report.records += len(ids)
            _tally(report, await self._run("repair", queue, "p", "index", flag, fail, *ids))
        return report

    async def _task_ids(self, queue: str) -> AsyncIterator[list[str]]:
        """The ids of ``queue``'s task records, up to BATCH at a time. SCAN may give a key twice
        (the keyspace changes while it walks): the script is idempotent. On Cluster the node that
        holds the queue's slot is walked: every key of the queue lives there (its hash tag)."""
        start = self.keys.prefix(queue) + "t:"
        match = start.translate(_GLOB) + "*"
        node = self.client.get_node_from_key(start) if self.cluster else None
        cursor: Any = 0
        ids: list[str] = []
        while True:
            if node is None:
                cursor, keys = await self.client.scan(cursor, match=match, count=SCAN_COUNT)
            else:
                cursors, keys = await self.client.scan(cursor, match=match, count=SCAN_COUNT, target_nodes=node)
                cursor = cursors[node.name]
            ids.extend(str(k)[len(start) :] for k in keys)
            done = int(cursor) == 0
            while len(ids) >= BATCH or (done and ids):
                yield ids[:BATCH]
                ids = ids[BATCH:]
            if done:
                return


def _tally(report: R.QueueRepair, reply: list[Any]) -> None:
    """One re-indexing step's reply (see repair.lua) into the report."""
    for j in range(0, len(reply), 5):
        task_id, status, added, removed, problem = reply[j : j + 5]
        if problem:  # (added: a record that was not a task, failed: fail_unreadable)
            report.found_garbage(str(task_id), str(problem), failed=int(added) == 1)
            continue
        if int(added) == 1:
            report.reindexed[TaskStatus(status)] += 1
        for other in str(removed).split():
            report.unlisted[TaskStatus(other)] += 1
