"""The dashboard application: owns the data source, follows the event stream, tracks the
connection, and pushes the dashboard screen. Screens do the drawing; actions live with them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from textual.app import App, SystemCommand
from textual.screen import Screen

from gdw_core.events import Event
from gdw_core.queue import TaskQueue
from gdw_tui.demo import DemoWorkload
from gdw_tui.history import Throughput, Utilization
from gdw_tui.source import DataSource

EVENTS_KEPT = 5000


class GdwApp(App[None]):
    CSS_PATH = ["styles/app.tcss", "styles/dashboard.tcss", "styles/modals.tcss"]
    TITLE = "gdw"
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        queue: TaskQueue,
        *,
        queue_name: str | None = None,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        demo: DemoWorkload | None = None,
        refresh_interval: float = 1.0,
        follow_events: bool = True,
        close_queue: bool = True,
    ) -> None:
        super().__init__()
        self.source = DataSource(queue, queue_name=queue_name, clock=clock)
        self.read_only = read_only
        self.demo = demo
        self.refresh_interval = refresh_interval
        self.follow_events = follow_events
        self.close_queue = close_queue
        self.throughput = Throughput()
        self.utilization = Utilization()
        self.recent: deque[Event] = deque(maxlen=EVENTS_KEPT)
        #: bumped on every event; screens redraw when it moves
        self.changes = 0
        self.connected: bool | None = None
        self.last_error = ""
        self.sub_title = queue.storage.address + (" · read-only" if read_only else "")

    @property
    def queue(self) -> TaskQueue:
        return self.source.queue

    async def on_mount(self) -> None:
        from gdw_tui.screens.dashboard import DashboardScreen

        if self.demo is not None:
            await self.demo.start()
        else:
            with contextlib.suppress(Exception):
                await self.source.open()
        await self.push_screen(DashboardScreen())
        if self.follow_events:
            self.run_worker(self._follow_events(), name="events", group="events", exclusive=True)

    async def on_unmount(self) -> None:
        if self.demo is not None:
            await self.demo.stop()
        elif self.close_queue:
            with contextlib.suppress(Exception):
                await self.queue.shutdown(timeout=0)

    # -- the event stream ---------------------------------------------------------------------
    async def _follow_events(self) -> None:
        cursor: str | None = None
        pause = 0.25
        while True:
            try:
                if cursor is None:
                    cursor = await self.queue.storage.last_event_id()
                async for event in self.queue.events(after=cursor):
                    cursor = event.id
                    self.on_storage_event(event)
                    pause = 0.25
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.set_connection(False, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    def on_storage_event(self, event: Event) -> None:
        self.recent.append(event)
        self.throughput.add(event)
        self.changes += 1

    def set_connection(self, ok: bool, error: BaseException | None = None) -> None:
        if error is not None:
            detail = str(error) or ("no answer in time" if isinstance(error, TimeoutError) else "")
            self.last_error = f"{type(error).__name__}: {detail}"
        if ok != self.connected:
            self.connected = ok
            self.changes += 1

    def events_for(self, task_id: str) -> list[Event]:
        return [e for e in self.recent if e.task_id == task_id]

    # -- the command palette ------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            yield from commands()
