"""Events: one per state transition (and a few more kinds), what the dashboard tails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """``kind`` is the new status for a transition (``"pending"``, ``"running"`` ...), or one of
    ``"progress"``, ``"cancel_requested"``, ``"paused"``, ``"resumed"``, ``"command"``.
    ``old`` is the previous status (``None`` when the task was just created)."""

    id: str  # ordered: later events compare greater within one storage (see Storage.read_events)
    at: float
    kind: str
    task_id: str | None = None
    old: str | None = None
    name: str | None = None
    queue: str | None = None
    worker: str | None = None
    attempt: int | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        attempt = data.get("attempt")
        return cls(
            id=str(data["id"]),
            at=float(data.get("at", 0.0)),
            kind=str(data.get("kind", "")),
            task_id=_opt(data.get("task_id")),
            old=_opt(data.get("old")),
            name=_opt(data.get("name")),
            queue=_opt(data.get("queue")),
            worker=_opt(data.get("worker")),
            attempt=None if attempt in (None, "") else int(attempt),
            detail=_opt(data.get("detail")),
        )


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
