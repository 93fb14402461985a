"""Recurring entries (interval or cron) and the arithmetic of their next fire times.

Each tick becomes a task whose id is ``"<entry id>@<tick epoch milliseconds>"``: deterministic, so any
number of schedulers enqueue each tick exactly once (the storage refuses a second task of that id).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from gdw_core.errors import InvalidPayload, InvalidSchedule
from gdw_core.record import DEFAULT_QUEUE


def check_cron(expr: str) -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidSchedule("cron expression must be a non-empty string like '*/5 * * * *'")
    expr = expr.strip()
    if not croniter.is_valid(expr):
        raise InvalidSchedule(f"invalid cron expression {expr!r} (expected e.g. '*/5 * * * *')")
    return expr


def cron_next(expr: str, after: float) -> float:
    """The first cron time strictly after ``after`` (UTC)."""
    start = datetime.fromtimestamp(after, UTC)
    value = croniter(expr, start).get_next(float)
    return float(value)


def tick_id(entry_id: str, tick: float) -> str:
    return f"{entry_id}@{round(tick * 1000)}"


@dataclass(slots=True)
class RecurringEntry:
    id: str
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    interval: float | None = None
    cron: str | None = None
    next_run: float = 0.0
    allow_overlap: bool = False
    last_task_id: str | None = None
    last_run: float | None = None
    created_at: float = 0.0
    task_options: dict[str, Any] = field(default_factory=dict)  # retry / timeout / priority / secret

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.cron is None):
            raise InvalidSchedule("a recurring entry needs exactly one of interval or cron")
        if self.interval is not None and not (self.interval > 0 and math.isfinite(self.interval)):
            raise InvalidSchedule(f"interval must be a positive number of seconds, got {self.interval}")
        if self.cron is not None:
            self.cron = check_cron(self.cron)

    @property
    def schedule_text(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.interval:g}s"

    def following(self, tick: float, now: float) -> float:
        """The next fire time after the tick at ``tick``, skipping ticks already in the past."""
        if self.interval is not None:
            steps = max(1, math.floor((now - tick) / self.interval) + 1)
            return tick + steps * self.interval
        assert self.cron is not None
        return cron_next(self.cron, max(tick, now))

    def upcoming(self, count: int, after: float | None = None) -> list[float]:
        """The next ``count`` fire times from ``next_run`` (or after ``after``)."""
        times: list[float] = []
        t = self.next_run if after is None else after
        if after is not None:
            t = self.following(after, after) if self.cron else after + (self.interval or 0)
        while len(times) < count:
            times.append(t)
            t = t + self.interval if self.interval is not None else cron_next(self.cron or "", t)
        return times

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
            "interval": self.interval,
            "cron": self.cron,
            "next_run": self.next_run,
            "allow_overlap": self.allow_overlap,
            "last_task_id": self.last_task_id,
            "last_run": self.last_run,
            "created_at": self.created_at,
            "task_options": self.task_options,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecurringEntry:
        if not isinstance(data, Mapping):
            raise InvalidPayload(f"a recurring entry must be a JSON object, got {type(data).__name__}")
        args = data.get("args") or []
        kwargs = data.get("kwargs") or {}
        options = data.get("task_options") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(options, dict):
            raise InvalidPayload("malformed recurring entry: args must be an array, kwargs and task_options objects")
        entry_id = data.get("id")
        if not isinstance(entry_id, str) or not isinstance(data.get("name"), str):
            raise InvalidPayload("malformed recurring entry: id and name must be strings")
        try:
            return cls(
                id=entry_id,
                name=str(data["name"]),
                args=args,
                kwargs=kwargs,
                queue=str(data.get("queue", DEFAULT_QUEUE)),
                interval=None if data.get("interval") is None else float(data["interval"]),
                cron=data.get("cron"),
                next_run=float(data.get("next_run", 0.0)),
                allow_overlap=bool(data.get("allow_overlap", False)),
                last_task_id=data.get("last_task_id"),
                last_run=None if data.get("last_run") is None else float(data["last_run"]),
                created_at=float(data.get("created_at", 0.0)),
                task_options=options,
            )
        except InvalidPayload:
            raise
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidPayload(f"malformed recurring entry: {exc!r}") from exc
