"""The dashboard application: owns the data source, follows the event stream, tracks the
connection, and pushes the dashboard screen. Screens get what they need when they are built, and
learn of storage changes by a :class:`~gdw_tui.messages.StorageChanged` message."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from textual.app import App
from textual.binding import Binding

from gdw_core.events import Event
from gdw_core.queue import TaskQueue
from gdw_tui.actions import Actions
from gdw_tui.demo import DemoWorkload
from gdw_tui.history import History
from gdw_tui.messages import StorageChanged
from gdw_tui.options import Options
from gdw_tui.palette import GdwCommands
from gdw_tui.screens.dashboard import DashboardScreen
from gdw_tui.screens.help import HelpScreen
from gdw_tui.screens.limits import LimitsScreen
from gdw_tui.source import DataSource


class GdwApp(App[None]):
    CSS_PATH = ["styles/app.tcss", "styles/dashboard.tcss", "styles/modals.tcss"]
    TITLE = "gdw"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = {GdwCommands}
    BINDINGS = [Binding("question_mark,f1", "help", "Help", key_display="?")]
    BINDINGS.append(Binding("L", "limits", "Limits", show=False))  # gdw_tui/screens/limits.py

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
        page_size: int = 100,
    ) -> None:
        super().__init__()
        self.options = Options(read_only, queue_name, refresh_interval, page_size)
        self.source = DataSource(queue, queue_name=queue_name, clock=clock)
        self.actions = Actions(queue, read_only=read_only)
        self.history = History()
        self.demo = demo
        self.follow_events = follow_events
        self.close_queue = close_queue
        self.sub_title = queue.storage.address + (" · read-only" if read_only else "")

    @property
    def queue(self) -> TaskQueue:
        return self.source.queue

    async def on_mount(self) -> None:
        if self.demo is not None:
            await self.demo.start()
        else:
            with contextlib.suppress(Exception):
                await self.source.open()
        await self.push_screen(DashboardScreen(self.source, self.options, self.actions, self.history))
        if self.follow_events:
            self.run_worker(self._follow_events(), name="events", group="events", exclusive=True)

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "events")  # no event lands on a closing app
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
                if self.source.set_connection(False, exc):
                    self.announce()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    def on_storage_event(self, event: Event) -> None:
        self.history.add(event)
        self.announce(event)

    def announce(self, event: Event | None = None) -> None:
        """Tell the screen on top that storage changed (nothing once the app is closing)."""
        if not self.screen_stack:
            return
        self.screen.post_message(StorageChanged(event))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.options))

    def action_limits(self) -> None:
        self.push_screen(LimitsScreen(self.source))
