"""The dashboard's limits view (``L``): use against capacity, throttled counts per queue."""

from __future__ import annotations

from gdw_core import TaskQueue
from gdw_core.status import TaskStatus
from gdw_tui.app import GdwApp
from gdw_tui.screens.limits import LimitsScreen
from tests.tui.conftest import shown, until


async def test_the_limits_view_shows_use_capacity_and_throttled_counts() -> None:
    q = TaskQueue(worker_count=0, queue_size=None)
    await q.limits.set("db", concurrency=2)
    await q.limits.set("stripe", rate="100/m", burst=10)
    ids = [await q.options(limits=["db"]).submit("demo_tasks:fast") for _ in range(5)]
    leases = await q.storage.claim("w", ["default"], 5, 30.0, 0.0)  # two hold a slot, three wait
    assert len(leases) == 2 and (await q.storage.counts())[TaskStatus.THROTTLED] == 3 and len(ids) == 5
    app = GdwApp(q, follow_events=False, refresh_interval=60)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, LimitsScreen))
        screen = app.screen
        await until(pilot, lambda: "db" in shown(screen.query_one("#limits-table")))
        limits = shown(screen.query_one("#limits-table"))
        db = next(line for line in limits.splitlines() if line.startswith("db"))
        assert "2/2" in db and db.split()[-2:] == ["3", "-"]
        stripe = next(line for line in limits.splitlines() if line.startswith("stripe"))
        assert "100/m" in stripe and "10" in stripe
        throttled = shown(screen.query_one("#throttled-table"))
        assert any(line.split() == ["default", "3"] for line in throttled.splitlines())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LimitsScreen))


async def test_throttled_tasks_have_their_own_tab_with_the_limit_and_the_next_try() -> None:
    q = TaskQueue(worker_count=0, queue_size=None)
    await q.limits.set("slowapi", rate="1/m")
    ids = [await q.options(limits=["slowapi"]).submit("demo_tasks:fast") for _ in range(3)]
    leases = await q.storage.claim("w", ["default"], 3, 30.0, 0.0)  # the rate's one turn; two wait
    assert len(leases) == 1
    app = GdwApp(q, follow_events=False, refresh_interval=60)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("9")  # the ninth state tab: throttled
        table = app.screen.query_one("#tasks")
        await until(pilot, lambda: sum(i in table.rows for i in ids) == 2)
        rows = [" ".join(str(cell) for cell in table.get_row(i)) for i in ids if i in table.rows]
        assert len(rows) == 2
        for line in rows:
            assert "next try in" in line and "slowapi" in line
