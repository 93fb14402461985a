"""Repairing a queue's status indexes (``gdw repair``): what a repair found and did, and the driver
that repairs queue after queue.

A queue's tasks are found through its status indexes (one sorted set per status on Redis). An
index overwritten with a key of another type (by hand, by a bad migration) stops the queue: its
tasks cannot move into it, and once the key is deleted the ids it held sit in no index, so nothing
would ever claim, recover, list or purge them. A repair of a queue (:meth:`Storage.repair`, one
storage step per batch of records):

* moves every index that is not a sorted set aside, under a name of its own (kept for forensics:
  :attr:`MovedIndex.to`);
* walks the queue's task records and puts each id back in the index its status belongs to, with
  the score that index uses (:data:`gdw_core.lifecycle.INDEX_SCORE`), and takes it out of any other
  index of the queue it is wrongly in. An id indexed right already is left alone: a second repair
  changes nothing. A record that cannot be read is reported with its reason and left as it is;
  with ``fail_unreadable``, one that cannot be read as a task at all (a key that is not a hash, a
  record with no or an unknown status) ends ``failed`` instead, with an InvalidPayload error
  saying why, as a claim fails such a record found among the pending tasks: it is then listed,
  retried (once its payload is fixed) and purged like any failed task. A key that is not a hash is
  renamed to ``<prefix>bad:<id>`` first (kept as it was) and a record saying so takes its place. A
  record of a known status whose time field is bad is still only reported: failing it would
  overwrite a status that may be true (a completed task's), so the operator fixes the field.

A dry run says what would change and changes nothing. The memory backend cannot hold garbage: its
repair finds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gdw_core.errors import StorageUnavailable
from gdw_core.status import TaskStatus

if TYPE_CHECKING:
    from gdw_core.storage.protocol import Storage

log = logging.getLogger(__name__)

#: unreadable records listed by id per queue (all of them are counted)
GARBAGE_LISTED = 100


@dataclass(frozen=True, slots=True)
class MovedIndex:
    """A status index that was not a sorted set, moved aside (on a dry run: that would be)."""

    status: TaskStatus
    key: str
    kind: str  # what the key held: "string", "hash", "list", ...
    to: str  # the name it was renamed to, kept for forensics


@dataclass(frozen=True, slots=True)
class Garbage:
    """A task record that cannot be re-indexed, and why; it is left as it is."""

    task_id: str
    reason: str


@dataclass(slots=True)
class QueueRepair:
    """What the repair of one queue found and did (on a dry run: would do)."""

    queue: str
    dry_run: bool = False
    moved_aside: list[MovedIndex] = field(default_factory=list)
    #: status -> ids put back into that status's index
    reindexed: Counter[TaskStatus] = field(default_factory=Counter)
    #: status -> ids taken out of that status's index (their record is in another status)
    unlisted: Counter[TaskStatus] = field(default_factory=Counter)
    #: task records found by the walk (a key may be met twice: a walk of a changing keyspace)
    records: int = 0
    #: unreadable records left as they are, the first GARBAGE_LISTED of them (garbage_count
    #: counts them all)
    garbage: list[Garbage] = field(default_factory=list)
    garbage_count: int = 0
    #: records that were not tasks and were failed (fail_unreadable; a dry run: would be), the
    #: first GARBAGE_LISTED of them (failed_count counts them all)
    failed: list[Garbage] = field(default_factory=list)
    failed_count: int = 0
    _seen: set[str] = field(default_factory=set, repr=False, compare=False)

    @property
    def changed(self) -> bool:
        """Whether the repair moved or re-indexed anything (a dry run: would have)."""
        return bool(self.moved_aside or self.reindexed or self.unlisted or self.failed_count)

    def found_garbage(self, task_id: str, reason: str, failed: bool = False) -> None:
        """An unreadable record: left as it is, or (``failed``) a record that was not a task,
        failed (a dry run: would be) with ``reason``."""
        if task_id in self._seen:
            return  # the walk met it twice
        self._seen.add(task_id)
        listed = self.failed if failed else self.garbage
        if len(listed) < GARBAGE_LISTED:
            listed.append(Garbage(task_id, reason))
        if failed:
            self.failed_count += 1
        else:
            self.garbage_count += 1

    def to_dict(self) -> dict[str, object]:
        return {
            "queue": self.queue,
            "moved_aside": [
                {"status": str(m.status), "key": m.key, "type": m.kind, "to": m.to} for m in self.moved_aside
            ],
            "reindexed": {str(s): n for s, n in sorted(self.reindexed.items())},
            "unlisted": {str(s): n for s, n in sorted(self.unlisted.items())},
            "records": self.records,
            "garbage": [{"id": g.task_id, "reason": g.reason} for g in self.garbage],
            "garbage_count": self.garbage_count,
            "failed": [{"id": g.task_id, "reason": g.reason} for g in self.failed],
            "failed_count": self.failed_count,
        }


@dataclass(slots=True)
class Report:
    """A repair of one or more queues."""

    dry_run: bool = False
    queues: list[QueueRepair] = field(default_factory=list)
    #: queue -> why its repair stopped (the other queues are repaired all the same)
    failed_queues: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(q.changed for q in self.queues)

    @property
    def garbage_count(self) -> int:
        return sum(q.garbage_count for q in self.queues)

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "dry_run": self.dry_run,
            "changed": self.changed,
            "queues": [q.to_dict() for q in self.queues],
        }
        if self.failed_queues:
            doc["failed_queues"] = dict(self.failed_queues)
        return doc


async def run(storage: Storage, queues: Sequence[str], dry_run: bool = False, fail_unreadable: bool = False) -> Report:
    """Repair each of ``queues`` in turn. A queue whose repair fails (a step raised: say, an index
    written again meanwhile) is logged and recorded in ``failed_queues``; the other queues are
    repaired. Redis being unreachable stops the whole run (StorageUnavailable)."""
    report = Report(dry_run)
    for queue in dict.fromkeys(queues):
        try:
            report.queues.append(await storage.repair(queue, dry_run, fail_unreadable))
        except (asyncio.CancelledError, StorageUnavailable):
            raise
        except Exception as exc:  # one queue's failure never stops the others
            log.error("repair: queue %r stopped: %s", queue, exc)
            report.failed_queues[queue] = f"{type(exc).__name__}: {exc}"
    return report
