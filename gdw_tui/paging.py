"""Which tasks of a state are on screen: a page (offset + size) and a sort. Every task is
reachable: the pager moves through all of a state's tasks, a page at a time, whatever their number.

It reads through ``Inspector.tasks(status, queue, offset, limit)`` today; moving to storage cursors
later changes only :meth:`Pager.read` and what ``next``/``previous`` keep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

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
    #: filtered in storage: where each page seen so far began its scan (index positions), and
    #: where the next one would (None: the state's end was reached)
    filtered: bool = False
    cursors: list[int] = field(default_factory=lambda: [0])
    next_cursor: int | None = None

    def reset(self) -> None:
        self.offset = 0
        self.filtered = False
        self.cursors = [0]
        self.next_cursor = None

    @property
    def cursor(self) -> int:
        """Where the filtered scan of the page on screen begins."""
        return self.cursors[-1]

    def filtered_read(self, next_cursor: int | None) -> None:
        """A filtered page was read: remember where the next one begins."""
        self.filtered = True
        self.next_cursor = next_cursor

    def next(self) -> bool:
        """Move one page on; False (and no move) at the last page."""
        if self.filtered:
            if self.next_cursor is None:
                return False
            self.cursors.append(self.next_cursor)
            self.next_cursor = None
            return True
        if self.offset + self.size >= self.total:
            return False
        self.offset += self.size
        return True

    def previous(self) -> bool:
        if self.filtered:
            if len(self.cursors) == 1:
                return False
            self.cursors.pop()
            return True
        if self.offset == 0:
            return False
        self.offset = max(0, self.offset - self.size)
        return True

    @property
    def more(self) -> bool:
        """Whether there is a page either way."""
        if self.filtered:
            return self.next_cursor is not None or len(self.cursors) > 1
        return self.offset > 0 or self.offset + self.size < self.total

    def cycle_sort(self) -> str:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        return self.sort

    def clamp(self, total: int) -> None:
        """Keep the page inside the state after it shrank (tasks moved on)."""
        self.total = total
        if self.filtered:
            return
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
        sort = "" if self.sort == "age" else f", sorted by {self.sort} within this page"
        if self.filtered:
            end = "" if self.next_cursor is not None else " (the last)"
            return f"page {len(self.cursors)}{end}: {shown} matching, filtered in storage{sort}"
        if self.total == 0 and shown == 0:
            return ""
        first = self.offset + 1 if shown else self.offset
        last = self.offset + shown
        return f"{first}-{last} of {max(self.total, last)}{sort}"
