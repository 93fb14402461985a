"""What a worker advertises about itself in its heartbeat (the dashboard's worker table)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gdw_core.storage.protocol import QueueInfo


@dataclass(slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    busy: int = 0  # tasks running (started) now
    claimed: int = 0  # tasks leased and waiting in its buffer (not started)
    processed: int = 0
    failed: int = 0
    started_at: float = 0.0
    last_seen: float = 0.0
    utilization: float = 0.0  # busy slot-seconds / total slot-seconds since the previous heartbeat
    #: what it says of itself: running | draining | stopped. Whether it is alive is not its to say:
    #: a record whose heartbeat is stale is shown as "dead" (gdw_core.lifecycle.worker_state)
    state: str = "running"
    lease: float = 30.0  # its lease length, seconds
    beat_every: float = 1.0  # its heartbeat interval, seconds
    tasks: list[str] = field(default_factory=list)  # registered task names (the allowlist)
    held: list[str] = field(default_factory=list)  # ids of tasks it holds leases on
    #: its queues whose claims fail now (queue -> the error; a queue's keys hold garbage)
    failing: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerInfo:
        return cls(
            id=str(data["id"]),
            host=str(data.get("host", "?")),
            pid=int(data.get("pid", 0)),
            queues=[str(q) for q in data.get("queues") or []],
            concurrency=int(data.get("concurrency", 0)),
            busy=int(data.get("busy", 0)),
            claimed=int(data.get("claimed", 0)),
            processed=int(data.get("processed", 0)),
            failed=int(data.get("failed", 0)),
            started_at=float(data.get("started_at", 0.0)),
            last_seen=float(data.get("last_seen", 0.0)),
            utilization=float(data.get("utilization", 0.0)),
            state=str(data.get("state", "running")),
            lease=float(data.get("lease", 30.0)),
            beat_every=float(data.get("beat_every", 1.0)),
            tasks=[str(t) for t in data.get("tasks") or []],
            held=[str(t) for t in data.get("held") or []],
            failing=_failing(data.get("failing")),
        )


def failing_queues(workers: Iterable[WorkerInfo], queues: Iterable[QueueInfo] = ()) -> dict[str, str]:
    """The queues that need an operator, each with the first reason: those whose claims or
    outcomes fail for these workers (pass the live ones: a dead one's report is old news), and
    those with a status index that cannot be read (``queues``: its count shows 0; a key of the
    queue holds garbage, which gdw repair puts right)."""
    out: dict[str, str] = {}
    for w in workers:
        for queue, why in w.failing.items():
            out.setdefault(queue, why)
    for q in queues:
        for status, why in sorted(q.unreadable.items()):
            out.setdefault(q.name, f"its {status} index cannot be read: {why}")
    return out


def _failing(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):  # (an older worker, or a record written by hand)
        return {}
    return {str(q): str(why)[:300] for q, why in value.items()}
