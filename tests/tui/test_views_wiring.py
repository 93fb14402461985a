"""The dashboard's storage-side reads: ``/`` with name:/queue:/error: filters in storage (tasks
beyond the first page are found), ``e`` shows error groups and filters the failed tab by one."""

from __future__ import annotations

from gdw_core import AttemptError
from gdw_core.storage.protocol import Start
from gdw_tui.screens.detail import TaskDetailScreen
from gdw_tui.screens.errors import ErrorGroupsScreen, GroupsTable
from gdw_tui.widgets.tables import TasksTable

from .conftest import SIZE, shown, until
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


async def test_e_opens_error_groups_and_enter_filters_failed_by_the_top_one() -> None:
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
        await until(pilot, lambda: isinstance(app.screen, ErrorGroupsScreen))
        groups = app.screen.query_one("#groups", GroupsTable)
        await until(pilot, lambda: groups.row_count == 2)
        assert [groups.get_row_at(0)[i].plain for i in range(3)] == ["3", "Timeout", "task <id> x"]
        await pilot.press("enter")  # the top group
        tasks = screen.query_one("#tasks", TasksTable)
        await until(pilot, lambda: screen.shown == "failed" and set(tasks.rows) == timeouts)
        assert len(ids) == 5


async def test_detail_timeline_is_read_from_storage_not_only_seen_events() -> None:
    app, queue = idle_app()
    task_id = await queue.submit("demo_tasks:failing")
    storage = queue.storage
    lease = (await storage.claim("worker-z", ["default"], 1, 30.0, 0.5))[0]
    await storage.start([Start(task_id, lease.token)])
    now = await storage.now()
    await storage.fail(task_id, lease.token, AttemptError(1, "Boom", "it broke", "tb", now, "worker-z"), None)
    async with app.run_test(size=SIZE) as pilot:  # started after: it saw none of these events
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("g", *task_id, "enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
        box = app.screen.query_one("#timeline")
        await until(pilot, lambda: "timeline (from storage)" in shown(box))
        text = shown(box)
        for words in ("created", "started", "attempt failed", "#1 Boom: it broke", "worker-z", "finished"):
            assert words in text


async def test_queues_view_shows_wait_p50_p99_from_started_tasks() -> None:
    app, queue = idle_app()
    ids = [await queue.submit("demo_tasks:fast") for _ in range(3)]
    storage = queue.storage
    leases = await storage.claim("w", ["default"], 3, 30.0, 0.5)
    await storage.start([Start(lz.task.id, lz.token) for lz in leases])
    async with app.run_test(size=(200, 60)) as pilot:
        screen = dashboard(app)
        await until(pilot, lambda: screen.snapshot is not None)
        assert screen.snapshot is not None and screen.snapshot.waits["default"].sample == len(ids)
        table = screen.query_one("#queues")
        assert any("wait p50/p99" in str(c.label) for c in table.columns.values())  # type: ignore[attr-defined]


async def test_detail_timeline_weaves_in_claims_and_releases_from_the_event_stream() -> None:
    app, queue = idle_app()
    task_id = await queue.submit("demo_tasks:failing")
    storage = queue.storage
    first = (await storage.claim("worker-a", ["default"], 1, 30.0, 0.5))[0]
    assert await storage.release(task_id, first.token, None)  # a drain hands it back unstarted
    second = (await storage.claim("worker-b", ["default"], 1, 30.0, 0.5))[0]
    await storage.start([Start(task_id, second.token)])
    now = await storage.now()
    await storage.fail(task_id, second.token, AttemptError(1, "Boom", "it broke", "tb", now, "worker-b"), None)
    async with app.run_test(size=SIZE) as pilot:  # started after: it saw none of these events live
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("g", *task_id, "enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
        box = app.screen.query_one("#timeline")
        await until(pilot, lambda: "claimed → pending" in shown(box))
        lines = [line.strip() for line in shown(box).splitlines() if line.strip()]
        steps = [line.split(" UTC ", 1)[1].strip() for line in lines[1:]]
        assert steps[0] == "created"
        stream = [s for s in steps if s.startswith("·")]
        assert stream[:3] == [
            "· pending → claimed  worker-a",
            "· claimed → pending  worker-a  released",
            "· pending → claimed  worker-b",
        ]
        assert sum(1 for s in steps if "started" in s or "→ running" in s) == 1  # not repeated
        assert any(s.startswith("finished") for s in steps)
