"""The memory backend's pending tasks of one queue: the highest priority first, first in first out
within a priority.

One FIFO lane per priority instead of one heap of every pending task: push and pop are O(1) for
the usual single priority (a heap of 100k tasks costs each claim ~17 tuple comparisons), and an
entry is a task id and its sequence number, no tuple. Entries may be stale (a task cancelled or
purged while pending): the reader checks the record, as before.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator


class ReadyQueue:
    __slots__ = ("lanes", "order")

    def __init__(self) -> None:
        # priority -> its lane: task ids and their sequence numbers, oldest first (two deques of
        # atomic values, so that a pending task costs the cyclic garbage collector nothing)
        self.lanes: dict[int, tuple[deque[str], deque[int]]] = {}
        self.order: list[int] = []  # heap of -priority, one per non-empty lane

    def __bool__(self) -> bool:
        return bool(self.order)

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self.lanes.values())

    def push(self, priority: int, seq: int, task_id: str) -> None:
        lane = self.lanes.get(priority)
        if lane is None:
            lane = self.lanes[priority] = (deque(), deque())
        ids, seqs = lane
        if not ids:
            heapq.heappush(self.order, -priority)
        ids.append(task_id)
        seqs.append(seq)

    def head(self) -> tuple[int, int]:
        """(-priority, seq) of the next entry (the queue is not empty): the order across queues."""
        neg = self.order[0]
        return neg, self.lanes[-neg][1][0]

    def pop(self) -> str:
        """The next entry's task id (the queue is not empty)."""
        priority = -self.order[0]
        ids, seqs = self.lanes[priority]
        seqs.popleft()
        task_id = ids.popleft()
        if not ids:
            heapq.heappop(self.order)
            if len(self.lanes) > 8:  # many priorities seen: an empty lane does not stay
                del self.lanes[priority]
        return task_id

    def take(self, n: int) -> list[str]:
        """The next ``n`` entries' task ids (fewer when fewer are queued), in claim order: what
        ``n`` calls of :meth:`pop` return, in one call."""
        out: list[str] = []
        order, lanes = self.order, self.lanes
        while order and n > 0:
            priority = -order[0]
            ids, seqs = lanes[priority]
            if n >= len(ids):  # the whole lane
                n -= len(ids)
                out.extend(ids)
                ids.clear()
                seqs.clear()
            else:
                for _ in range(n):
                    out.append(ids.popleft())
                    seqs.popleft()
                n = 0
            if not ids:
                heapq.heappop(order)
                if len(lanes) > 8:
                    del lanes[priority]
        return out

    def entries(self) -> Iterator[tuple[int, int, str]]:
        """Every entry as ``(-priority, seq, task id)``, in claim order."""
        for priority in sorted(self.lanes, reverse=True):
            ids, seqs = self.lanes[priority]
            for task_id, seq in zip(ids, seqs, strict=True):
                yield -priority, seq, task_id
