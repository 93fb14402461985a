"""The memory backend's worker records: what each worker last said in its heartbeat, kept after it
stopped or died as a bounded history (:data:`gdw_core.lifecycle.WORKER_HISTORY_SECONDS` /
:data:`~gdw_core.lifecycle.WORKER_HISTORY_MAX`). It stores what the workers said; whether one is
dead is :func:`gdw_core.lifecycle.worker_state`'s to say, on the reader's clock."""

from __future__ import annotations

import dataclasses

from gdw_core import lifecycle
from gdw_core.workerinfo import WorkerInfo


class WorkerHistory:
    def __init__(self) -> None:
        self._records: dict[str, WorkerInfo] = {}

    def beat(self, info: WorkerInfo, now: float) -> list[str]:
        """Store a copy of ``info`` seen ``now``; returns the ids dropped from the history."""
        known = info.id in self._records
        self._records[info.id] = _snapshot(info, now)
        return [] if known else self.prune(now)  # only a new id can grow the history

    def stop(self, worker_id: str, now: float) -> list[str]:
        """A graceful goodbye: the record stays, ``stopped``, holding nothing."""
        info = self._records.get(worker_id)
        if info is None:
            return []
        self._records[worker_id] = dataclasses.replace(info, state="stopped", last_seen=now, busy=0, claimed=0, held=[])
        return self.prune(now)

    def records(self, now: float) -> list[WorkerInfo]:
        """Every record kept (copies), after dropping what fell out of the history."""
        self.prune(now)
        return [_snapshot(w, w.last_seen) for w in self._records.values()]

    def prune(self, now: float) -> list[str]:
        """Drop records not seen for WORKER_HISTORY_SECONDS, and the oldest records that are not
        live beyond WORKER_HISTORY_MAX. Returns the dropped ids."""
        horizon = now - lifecycle.WORKER_HISTORY_SECONDS
        gone = [w.id for w in self._records.values() if w.last_seen < horizon]
        past = sorted(
            (w for w in self._records.values() if w.last_seen >= horizon and not lifecycle.is_live(w, now)),
            key=lambda w: w.last_seen,
        )
        excess = len(past) - lifecycle.WORKER_HISTORY_MAX
        if excess > 0:
            gone.extend(w.id for w in past[:excess])
        for worker_id in gone:
            del self._records[worker_id]
        return gone


def _snapshot(info: WorkerInfo, last_seen: float) -> WorkerInfo:
    """A stored copy (the worker keeps mutating its own record)."""
    return dataclasses.replace(
        info, last_seen=last_seen, queues=list(info.queues), tasks=list(info.tasks), held=list(info.held)
    )
