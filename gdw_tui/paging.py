"""Which tasks of a state are on screen: a page by storage position and a sort. Every task is
reachable: the pager walks all of a state's tasks a page at a time, by cursor — the position
(index score, id) of the last task shown (``Inspector.tasks_after``), or, filtered in storage,
where the filtered scan stopped — so a page does not shift when tasks before it move on, and a
page deep in a million tasks costs what the first one does.

Sorts: ``age`` is the storage order (oldest first for waiting and running tasks, newest first for
finished ones) and ``age, reversed`` its opposite — both walk the whole state through the index;
``name`` and ``attempts`` order only the page that is loaded (the title says so)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gdw_core.record import TaskRecord
from gdw_core.storage.protocol import Mark

#: how a page can be ordered
SORTS: tuple[str, ...] = ("age", "age, reversed", "name", "attempts")
#: the sorts that walk the state through the index (the others sort within the page)
GLOBAL_SORTS = frozenset({"age", "age, reversed"})


@dataclass(slots=True)
class Pager:
    size: int = 100
    sort: str = "age"
    #: how many tasks the state holds (from the counters), for "1-100 of 1234" / "page 3: 100 of 1234"
    total: int = 0
    #: filtered in storage (the page came from a filtered scan)
    filtered: bool = False
    #: where each page seen so far began (None: the state's start), and where the next one would
    #: (None: the state's end was reached)
    cursors: list[Mark | None] = field(default_factory=lambda: [None])
    next_cursor: Mark | None = None
    #: a page moved to is being read (so where the one after it begins is not known yet), and how
    #: many more pages on were asked for meanwhile: keys pressed faster than pages load are kept
    waiting: bool = False
    ahead: int = 0

    @property
    def reverse(self) -> bool:
        return self.sort == "age, reversed"

    @property
    def cursor(self) -> Mark | None:
        """Where the page on screen begins."""
        return self.cursors[-1]

    def reset(self) -> None:
        self.filtered = False
        self.cursors = [None]
        self.next_cursor = None
        self.waiting, self.ahead = False, 0

    def read_done(self, next_cursor: Mark | None, filtered: bool) -> bool:
        """A page was read: remember where the next one begins. True when pages further on were
        asked for while it was read: the pager has moved on again, and that page is to be read."""
        self.filtered = filtered
        self.next_cursor = next_cursor
        self.waiting = False
        ahead, self.ahead = self.ahead, 0
        if ahead and self.next():
            self.ahead = ahead - 1
            return True
        return False

    def next(self) -> bool:
        """Move one page on; False (and no move) at the last page. While the page moved to is still
        being read, the move is kept and made when it is (see read_done)."""
        if self.next_cursor is None:
            if self.waiting:
                self.ahead += 1
                return True
            return False
        self.cursors.append(self.next_cursor)
        self.next_cursor = None
        self.waiting = True
        return True

    def previous(self) -> bool:
        if self.ahead:  # a move on not made yet: take it back
            self.ahead -= 1
            return True
        if len(self.cursors) == 1:
            return False
        self.cursors.pop()
        self.next_cursor, self.waiting = None, True  # known again once this page is read
        return True

    @property
    def more(self) -> bool:
        """Whether there is a page either way."""
        return self.next_cursor is not None or len(self.cursors) > 1

    def cycle_sort(self) -> str:
        before = self.sort
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        if self.reverse or before == "age, reversed":  # the walk's direction changed
            self.reset()
        return self.sort

    def clamp(self, total: int) -> None:
        self.total = total

    def order(self, tasks: list[TaskRecord]) -> list[TaskRecord]:
        if self.sort == "name":
            return sorted(tasks, key=lambda t: (t.name, t.created_at))
        if self.sort == "attempts":
            return sorted(tasks, key=lambda t: (-t.attempts, t.created_at))
        return tasks

    def label(self, shown: int) -> str:
        sort = "" if self.sort == "age" else f", {self.sort}"
        if self.sort not in GLOBAL_SORTS:
            sort = f", sorted by {self.sort} within this page"
        if self.filtered:
            end = "" if self.next_cursor is not None else " (the last)"
            return f"page {len(self.cursors)}{end}: {shown} matching, filtered in storage{sort}"
        if self.total == 0 and shown == 0:
            return ""
        if len(self.cursors) == 1:
            return f"{1 if shown else 0}-{shown} of {max(self.total, shown)}{sort}"
        # past the first page the position is where the cursor stands, not a count: say the page
        return f"page {len(self.cursors)}: {shown} of {max(self.total, shown)}{sort}"
