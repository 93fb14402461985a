"""The dashboard follows a real embedded queue: workers, counts, tasks by state, in place."""

from __future__ import annotations

from typing import Any

from gdw_core import TaskQueue, TaskStatus
from gdw_tui.screens.dashboard import RECURRING, TAB_KEYS, TABS, DashboardScreen
from gdw_tui.widgets.tables import QueuesTable, TasksTable, WorkersTable

from .conftest import SIZE, until


def dashboard(app: Any) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


async def test_shows_workers_counts_and_running_tasks(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    task_id = await queue.submit("demo_tasks:cancellable", steps=50, step_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        tasks = screen.query_one("#tasks", TasksTable)
        await until(pilot, lambda: task_id in tasks.rows)
        workers = screen.query_one("#workers", WorkersTable)
        assert "worker-a" in workers.rows
        queues = screen.query_one("#queues", QueuesTable)
        await until(pilot, lambda: "default" in queues.rows)
        row = queues.get_row("default")
        assert row[0].plain == "default"
        # the name column shows the task's name
        assert tasks.get_row(task_id)[1].plain == "demo_tasks:cancellable"
        await queue.cancel(task_id)
        await until(pilot, lambda: task_id not in tasks.rows)


async def test_event_updates_rows_in_place_and_keeps_the_selection(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    first = await queue.schedule("demo_tasks:fast", 3600, 1)
    second = await queue.schedule("demo_tasks:fast", 7200, 2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")  # scheduled
        screen = dashboard(app)
        tasks = screen.query_one("#tasks", TasksTable)
        await until(pilot, lambda: first in tasks.rows and second in tasks.rows)
        await pilot.press("down")
        assert tasks.selected_key == second
        third = await queue.schedule("demo_tasks:fast", 60, 3)  # runs first: goes to the top
        await until(pilot, lambda: third in tasks.rows)
        assert tasks.get_row_index(third) == 0
        assert tasks.selected_key == second  # the cursor followed its row


async def test_state_keys_switch_tabs_and_recurring(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    await queue.schedule_recurring("demo_tasks:heartbeat", interval=600, entry_id="every-10m")
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        for name, key in TAB_KEYS.items():
            if name == RECURRING:
                continue
            await pilot.press(key)
            await pilot.pause()
            assert screen.shown == name
            assert TaskStatus(name)
        numbered = len(TAB_KEYS) - 1  # the states with a number key
        for _ in range(len(TABS) - 1 - numbered):  # the states past them: t cycles on
            await pilot.press("t")
            await pilot.pause()
        assert screen.shown == TABS[-2]
        await pilot.press("0")
        await until(pilot, lambda: "every-10m" in screen.query_one("#recurring").rows)
        row = screen.query_one("#recurring").get_row("every-10m")
        assert row[3].plain == "every 600s"
        assert row[4].plain.startswith("in ")


async def test_filter_narrows_the_table(queue: TaskQueue, make_app: Any) -> None:
    app = make_app()
    keep = await queue.schedule("demo_tasks:resize", 3600, "photos/cat.jpg", 640)
    drop = await queue.schedule("demo_tasks:fast", 3600, "dog")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        tasks = dashboard(app).query_one("#tasks", TasksTable)
        await until(pilot, lambda: keep in tasks.rows and drop in tasks.rows)
        await pilot.press("slash")
        await pilot.press(*"cat.jpg")
        await until(pilot, lambda: drop not in tasks.rows)
        assert keep in tasks.rows
        # the title counts what is on screen, not only the page it was picked from
        lists = dashboard(app).query_one("#lists")
        await until(pilot, lambda: "1 match “cat.jpg”" in str(lists.border_title))
        assert "1-2 of 2" in str(lists.border_title)
        await pilot.press("escape")
        await until(pilot, lambda: drop in tasks.rows)
        await until(pilot, lambda: "match" not in str(lists.border_title))
