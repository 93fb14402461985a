"""Fan-in on the memory backend: what happens to a task's children when it moves. The memory
storage calls :meth:`MemoryFanIn.moved` from its one transition point (``_move``) and
:meth:`MemoryFanIn.enqueue` for a workflow; both run inside one storage step (nothing awaits),
so they are as atomic as the Redis scripts (``_workflow.lua``), and follow the same rules
(:mod:`gdw_core.workflow.rules`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gdw_core.errors import DuplicateTask
from gdw_core.lifecycle import Detail
from gdw_core.record import TaskRecord
from gdw_core.status import TERMINAL, TaskStatus
from gdw_core.workflow.errors import UnknownDependency, check_unique
from gdw_core.workflow.rules import CANCEL, SATISFIED, effect

if TYPE_CHECKING:
    from gdw_core.storage.memory import MemoryStorage

S = TaskStatus


class MemoryFanIn:
    def __init__(self, storage: MemoryStorage) -> None:
        self._s = storage
        #: (parent, old, new) moves whose children are still to be told; a cascade (a chain of a
        #: thousand cancelled dependents) is a loop over this, never a recursion
        self._work: deque[tuple[TaskRecord, TaskStatus, TaskStatus]] = deque()
        self._busy = False

    # -- submit ------------------------------------------------------------------------------
    def enqueue(self, records: Sequence[TaskRecord]) -> None:
        """Store a workflow's nodes (parents before children) atomically: every check first, then
        every record. Raises DuplicateTask / UnknownDependency with nothing stored."""
        s = self._s
        new = {r.id: r for r in records}
        check_unique(records)
        for r in records:
            if r.id in s._tasks:
                raise DuplicateTask(r.id, str(s._tasks[r.id].status))
            for p in r.parents:
                if p not in new and p not in s._tasks:
                    raise UnknownDependency(p, r.id)
        now = s.clock.now()
        for r in records:
            r.status = S.BLOCKED
            r.created_at = r.created_at or now
            r.run_at = r.created_at
            r.delay = None
            r.waiting = 0
            r.children = []
            s._tasks[r.id] = r
            s._index[S.BLOCKED][r.id] = None
            s._queue_counts(r.queue)[S.BLOCKED] += 1
            s._emit(S.BLOCKED.value, r, None, now)
        for r in records:
            for p in r.parents:
                parent = s._tasks[p]
                if type(parent.children) is not list:  # the shared empty list (record.NOTHING)
                    parent.children = []
                parent.children.append(r.id)
        for r in records:
            self.settle(r, now)

    # -- transitions -------------------------------------------------------------------------
    def moved(self, rec: TaskRecord, old: TaskStatus, new: TaskStatus) -> None:
        """``rec`` moved ``old -> new``: a finished parent satisfies or cancels its blocked
        children; a re-run parent revives the children it cancelled."""
        if not rec.children or not (new in TERMINAL or old in TERMINAL):
            return
        self._work.append((rec, old, new))
        if self._busy:
            return
        self._busy = True
        try:
            while self._work:
                parent, p_old, p_new = self._work.popleft()
                now = self._s.clock.now()
                for child_id in parent.children:
                    child = self._s._tasks.get(child_id)
                    if child is not None:
                        self._child(child, parent, p_old, p_new, now)
        finally:
            self._busy = False

    def _child(self, child: TaskRecord, parent: TaskRecord, old: TaskStatus, new: TaskStatus, now: float) -> None:
        if new in TERMINAL:
            if child.status is not S.BLOCKED:
                return
            if effect(new, child.on_parent_failure) == CANCEL:
                self._cancel(child, parent.id, new, now)
                return
            child.waiting -= 1
            if child.waiting <= 0:
                self._release(child, now)
            return
        # the parent left a finished state: an operator's re-run
        if child.status is S.CANCELLED and child.cancelled_by == parent.id:
            child.cancelled_by = None
            child.finished_at = None
            self._s._move(child, S.BLOCKED, now, Detail.REVIVED + parent.id)
            self.settle(child, now)
        elif child.status is S.BLOCKED and effect(old, child.on_parent_failure) == SATISFIED:
            child.waiting += 1  # its failure had let the child go ahead: wait for the new run

    def settle(self, child: TaskRecord, now: float) -> None:
        """Count the unsatisfied parents of a blocked task from scratch (at submit, on revival);
        release it when there are none, cancel it when a parent failed."""
        if child.status is not S.BLOCKED:
            return
        waiting = 0
        for p in child.parents:
            parent = self._s._tasks.get(p)
            e = effect(None if parent is None else parent.status, child.on_parent_failure)
            if e == CANCEL and parent is not None:
                self._cancel(child, p, parent.status, now)
                return
            if e is None:
                waiting += 1
        child.waiting = waiting
        if waiting == 0:
            self._release(child, now)

    def _cancel(self, child: TaskRecord, parent_id: str, parent_status: TaskStatus, now: float) -> None:
        child.cancelled_by = parent_id
        child.finished_at = now
        why = Detail.PARENT_FAILED if parent_status is S.FAILED else Detail.PARENT_CANCELLED
        self._s._move(child, S.CANCELLED, now, why + parent_id)

    def _release(self, child: TaskRecord, now: float) -> None:
        if child.takes:
            results = []
            for p in child.parents[: child.feeds]:
                parent = self._s._tasks.get(p)
                results.append(None if parent is None else parent.result)
            given = results[0] if child.takes == "one" and results else results
            child.args = [given, *child.args]
        child.waiting = 0
        child.run_at = now
        self._s._move(child, S.PENDING, now, Detail.PARENTS_DONE)
        self._s._push_pending(child)
