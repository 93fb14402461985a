"""Which tasks the operator picked for a bulk action: some rows by id (space), or "all matching"
the state, queue and storage filter on screen (``a``), whose count comes from storage when the
action is confirmed, never from the rows on screen."""

from __future__ import annotations

from dataclasses import dataclass, field

from gdw_core.status import TaskStatus
from gdw_core.views import TaskFilter

#: the most rows one selection holds by id (a bigger set is "all matching")
MAX_SELECTED = 10_000


@dataclass(frozen=True, slots=True)
class Scope:
    """All tasks of one state, in one queue (None = every queue), matching a storage filter."""

    state: TaskStatus
    queue: str | None = None
    filter: TaskFilter | None = None

    def words(self) -> str:
        out = f"all {self.state} tasks"
        if self.queue is not None:
            out += f" in queue {self.queue}"
        if self.filter is not None and not self.filter.empty:
            out += f" matching {self.filter.words()}"
        return out


@dataclass(slots=True)
class Selection:
    ids: dict[str, None] = field(default_factory=dict)  # ordered: the order they were picked
    scope: Scope | None = None

    @property
    def empty(self) -> bool:
        return not self.ids and self.scope is None

    def toggle(self, task_id: str) -> bool:
        """Pick or unpick one row; True when it is now picked. Picking a row ends "all matching"."""
        self.scope = None
        if task_id in self.ids:
            del self.ids[task_id]
            return False
        if len(self.ids) >= MAX_SELECTED:
            raise ValueError(f"at most {MAX_SELECTED} rows can be picked one by one; use 'a' for all matching")
        self.ids[task_id] = None
        return True

    def select_all(self, scope: Scope) -> None:
        self.ids.clear()
        self.scope = scope

    def clear(self) -> None:
        self.ids.clear()
        self.scope = None

    def holds(self, task_id: str) -> bool:
        """Whether a row on screen is part of the selection (every row is, for "all matching")."""
        return self.scope is not None or task_id in self.ids

    def label(self) -> str:
        if self.scope is not None:
            return f"selected: {self.scope.words()}"
        if self.ids:
            return f"{len(self.ids)} selected"
        return ""
