"""Which tasks of a state are on screen: a page (offset + size) and a sort. Every task is
reachable: the pager moves through all of a state's tasks, a page at a time, whatever their number.

It reads through ``Inspector.tasks(status, queue, offset, limit)`` today; moving to storage cursors
later changes only :meth:`Pager.read` and what ``next``/``previous`` keep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gdw_core.record import TaskRecord
from gdw_core.status import TaskStatus

#: how a page can be ordered: storage order (oldest first), then by name, then most attempts first
SORTS: tuple[str, ...] = ("age", "name", "attempts")

Reader = Callable[[TaskStatus, int, int], Awaitable[list[TaskRecord]]]


@dataclass(slots=True)
class Pager:
    size: int = 100
    offset: int = 0
    sort: str = "age"
    #: how many tasks the state holds (from the counters), for "rows 101-200 of 1234"
    total: int = 0

    def reset(self) -> None:
        self.offset = 0

    def next(self) -> bool:
        """Move one page on; False (and no move) at the last page."""
        if self.offset + self.size >= self.total:
            return False
        self.offset += self.size
        return True

    def previous(self) -> bool:
        if self.offset == 0:
            return False
        self.offset = max(0, self.offset - self.size)
        return True

    def cycle_sort(self) -> str:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        return self.sort

    def clamp(self, total: int) -> None:
        """Keep the page inside the state after it shrank (tasks moved on)."""
        self.total = total
        if self.offset >= total:
            self.offset = max(0, (max(0, total - 1) // self.size) * self.size)

    async def read(self, read: Reader, status: TaskStatus) -> list[TaskRecord]:
        return self.order(await read(status, self.offset, self.size))

    def order(self, tasks: list[TaskRecord]) -> list[TaskRecord]:
        if self.sort == "name":
            return sorted(tasks, key=lambda t: (t.name, t.created_at))
        if self.sort == "attempts":
            return sorted(tasks, key=lambda t: (-t.attempts, t.created_at))
        return tasks

    def label(self, shown: int) -> str:
        if self.total == 0 and shown == 0:
            return ""
        first = self.offset + 1 if shown else self.offset
        last = self.offset + shown
        sort = "" if self.sort == "age" else f", sorted by {self.sort} within this page"
        return f"{first}-{last} of {max(self.total, last)}{sort}"
