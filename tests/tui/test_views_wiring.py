"""The dashboard's storage-side reads: ``/`` with name:/queue:/error: filters in storage (tasks
beyond the first page are found), ``e`` shows error groups and filters the failed tab by one."""

from __future__ import annotations

from gdw_core import AttemptError
from gdw_tui.widgets.tables import TasksTable

from .conftest import SIZE, until
from .test_console import idle_app
from .test_live import dashboard


async def test_slash_name_filter_is_evaluated_in_storage() -> None:
    app, queue = idle_app(page_size=10)
    fast = [await queue.submit("demo_tasks:fast", i) for i in range(15)]
    sleepy = [await queue.submit("demo_tasks:sleepy") for _ in range(4)]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        tasks = dashboard(app).query_one("#tasks", TasksTable)
        await until(pilot, lambda: fast[0] in tasks.rows)
        assert not any(s in tasks.rows for s in sleepy)  # beyond the first page
        await pilot.press("slash", *"name:sleepy", "enter")
        await until(pilot, lambda: all(s in tasks.rows for s in sleepy))
        assert tasks.row_count == 4
        await pilot.press("escape")
        await until(pilot, lambda: fast[0] in tasks.rows and tasks.row_count == 10)


async def test_e_shows_error_groups_and_filters_failed_by_the_top_one() -> None:
    app, queue = idle_app(page_size=10)
    ids = [await queue.submit("demo_tasks:failing") for _ in range(5)]
    storage = queue.storage
    now = await storage.now()
    leases = await storage.claim("w", ["default"], 5, 30.0, 0.5)
    kinds = ["Timeout"] * 3 + ["KeyError"] * 2
    for lease, kind in zip(leases, kinds, strict=True):
        error = AttemptError(1, kind, f"task {lease.task.id} x", "tb", now)
        await storage.fail(lease.task.id, lease.token, error, None)
    timeouts = {lz.task.id for lz, k in zip(leases, kinds, strict=True) if k == "Timeout"}
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await until(pilot, lambda: screen.snapshot is not None)
        await pilot.press("e")
        tasks = screen.query_one("#tasks", TasksTable)
        await until(pilot, lambda: screen.shown == "failed" and set(tasks.rows) == timeouts)
        assert any("3  Timeout: task <id> x" in str(n.message) for n in app._notifications)
        assert len(ids) == 5
