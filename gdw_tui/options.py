"""The dashboard's options, given to every screen when it is built."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Options:
    #: watch only: every action is off
    read_only: bool = False
    #: the queue shown and acted on (None = all)
    queue_name: str | None = None
    #: seconds between refreshes when nothing changes (countdowns, worker heartbeats)
    refresh_interval: float = 1.0
    #: rows read per page of tasks
    page_size: int = 100
