"""The submit form's logic, apart from its widgets: parse the arguments and the schedule, preview
the next fire times, and submit through the queue's public methods."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gdw_core.duration import parse_duration, parse_time
from gdw_core.errors import InvalidSchedule
from gdw_core.queue import TaskQueue
from gdw_core.recurring import RecurringEntry, check_cron, cron_next

WHEN_KINDS = ("now", "in", "at", "every", "cron")


def parse_args(text: str) -> tuple[list[Any], dict[str, Any]]:
    """``[1, "a"]`` -> args; ``{"x": 1}`` -> kwargs; ``{"args": [..], "kwargs": {..}}`` -> both;
    empty -> none. Raises ValueError with a readable message."""
    s = text.strip()
    if not s:
        return [], {}
    try:
        value = json.loads(s)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        if set(value) <= {"args", "kwargs"} and value:
            args, kwargs = value.get("args", []), value.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ValueError('"args" must be an array and "kwargs" an object')
            return args, kwargs
        return [], value
    return [value], {}


@dataclass(frozen=True, slots=True)
class When:
    kind: str = "now"  # now | in | at | every | cron
    delay: float | None = None
    at: datetime | None = None
    interval: float | None = None
    cron: str | None = None

    def preview(self, now: float, count: int = 3) -> list[float]:
        """The next fire times (epoch seconds) from ``now``."""
        match self.kind:
            case "now":
                return [now]
            case "in":
                return [now + (self.delay or 0.0)]
            case "at":
                return [self.at.timestamp()] if self.at else []
            case "every":
                entry = RecurringEntry("preview", "m:f", interval=self.interval, next_run=now + (self.interval or 0))
                return entry.upcoming(count)
            case "cron":
                first = cron_next(self.cron or "", now)
                entry = RecurringEntry("preview", "m:f", cron=self.cron, next_run=first)
                return entry.upcoming(count)
        return []


def parse_when(kind: str, text: str) -> When:
    """Raises InvalidSchedule (a ValueError-like GdwError) with the accepted forms."""
    text = text.strip()
    match kind:
        case "now":
            return When()
        case "in":
            return When("in", delay=parse_duration(text))
        case "at":
            return When("at", at=parse_time(text))
        case "every":
            interval = parse_duration(text)
            if interval <= 0:
                raise InvalidSchedule("the interval must be more than 0")
            return When("every", interval=interval)
        case "cron":
            return When("cron", cron=check_cron(text))
    raise InvalidSchedule(f"unknown schedule {kind!r}: one of {', '.join(WHEN_KINDS)}")


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    when: When = field(default_factory=When)
    queue: str | None = None
    secret: bool = False

    async def send(self, target: TaskQueue) -> str:
        """Submit; returns the task id (or the recurring entry id)."""
        q = target.options(queue=self.queue or None, secret=self.secret or None)
        w = self.when
        match w.kind:
            case "in":
                return await q.schedule(self.name, w.delay or 0.0, *self.args, **self.kwargs)
            case "at":
                assert w.at is not None
                return await q.schedule_at(self.name, w.at, *self.args, **self.kwargs)
            case "every":
                return await q.schedule_recurring(self.name, *self.args, interval=w.interval, **self.kwargs)
            case "cron":
                return await q.schedule_recurring(self.name, *self.args, cron=w.cron, **self.kwargs)
        return await q.submit(self.name, *self.args, **self.kwargs)


def describe_times(times: list[float]) -> str:
    return ", ".join(datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in times) + " UTC"
