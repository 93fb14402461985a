"""Storage going away: the badge says so, the last data stays (greyed), and it comes back alone.

The storage is the real memory backend with a switch that makes its reads fail the way a lost
connection does (ConnectionError), so the app's own code paths run unchanged."""

from __future__ import annotations

from typing import Any

from gdw_core import InvalidPayload, MemoryStorage, TaskQueue
from gdw_tui.app import GdwApp
from gdw_tui.widgets.panels import ConnectionBadge
from gdw_tui.widgets.tables import TasksTable
from tests.support.hangup import hang_up_server

from .conftest import SIZE, shown, until
from .test_live import dashboard


class SwitchableStorage(MemoryStorage):
    down = False
    garbled = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("Connection refused (storage switched off by the test)")
        if self.garbled:
            raise InvalidPayload("malformed task record: [bold]not json[/]")

    async def now(self) -> float:
        self._check()
        return await super().now()

    async def queues(self) -> Any:
        self._check()
        return await super().queues()

    async def read_events(self, after: str, limit: int = 500, wait: float = 0.0) -> Any:
        self._check()
        return await super().read_events(after, limit, wait)


async def test_disconnect_keeps_last_data_and_reconnects() -> None:
    storage = SwitchableStorage()
    queue = TaskQueue(worker_count=0, storage=storage)
    task_id = await queue.schedule("demo_tasks:fast", 3600)
    app = GdwApp(queue, refresh_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await pilot.press("2")
        tasks = screen.query_one("#tasks", TasksTable)
        await until(pilot, lambda: task_id in tasks.rows)
        badge = screen.query_one("#badge", ConnectionBadge)
        assert badge.state == "connected"
        storage.down = True
        await until(pilot, lambda: badge.state == "disconnected")
        assert screen.has_class("-disconnected")
        assert task_id in tasks.rows  # the last data stays on screen
        assert "Connection refused" in screen.source.last_error
        # the whole reason is on screen, not cut at 60 characters
        assert "storage switched off by the test" in shown(screen.query_one("#conn-error"))
        storage.down = False
        await until(pilot, lambda: badge.state == "connected")
        assert not screen.has_class("-disconnected")


async def test_unreadable_data_is_reported_not_taken_for_a_lost_connection() -> None:
    storage = SwitchableStorage()
    queue = TaskQueue(worker_count=0, storage=storage)
    app = GdwApp(queue, refresh_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        badge = screen.query_one("#badge", ConnectionBadge)
        await until(pilot, lambda: badge.state == "connected")
        storage.garbled = True
        await until(pilot, lambda: any(n.title == "cannot read this view" for n in app._notifications))
        assert badge.state == "connected"
        await pilot.pause(0.6)  # a few more refreshes go by
        messages = [n.message for n in app._notifications if n.title == "cannot read this view"]
        assert len(messages) == 1  # said once, not at every refresh
        assert "\\[bold]" in messages[0]  # escaped markup


async def test_a_server_that_hangs_up_is_named_on_screen_at_once() -> None:
    """gdw-tui pointed at a port whose server hangs up unanswered (PostgreSQL, a TLS-only Redis):
    the dashboard is up at once and says what that can mean; the screen stayed blank for 20 s
    while the storage reconnected with backoff before."""
    from gdw_tui.__main__ import redis_queue

    async with hang_up_server() as port:
        app = GdwApp(redis_queue(f"redis://127.0.0.1:{port}/0"), refresh_interval=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: bool(app.screen_stack) and app.screen.id != "_default", steps=120)
            screen = dashboard(app)
            badge = screen.query_one("#badge", ConnectionBadge)
            await until(pilot, lambda: badge.state == "disconnected", steps=120)
            await until(pilot, lambda: "a Redis that wants TLS" in shown(screen.query_one("#conn-error")), steps=120)
