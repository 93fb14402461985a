"""Per-queue charts: the history they are drawn from (events per queue, one wait/depth sample per
second of refreshes), the folding of a minute into a short sparkline, and the screen / columns."""

from __future__ import annotations

from typing import Any

from gdw_core.events import Event
from gdw_core.storage.protocol import QueueInfo
from gdw_core.views import WaitStats
from gdw_tui import formatting as fmt
from gdw_tui.history import MAX_QUEUES, History, Trend
from gdw_tui.screens.charts import ChartsTable, QueueChartsScreen
from gdw_tui.widgets.tables import QueuesTable

from . import scenario
from .conftest import until
from .test_live import dashboard


def event(at: float, kind: str, queue: str) -> Event:
    return Event(id=f"{at}-{kind}", at=at, kind=kind, task_id="t", queue=queue)


def test_throughput_is_kept_per_queue_and_only_for_finished_tasks() -> None:
    h = History()
    for i in range(3):
        h.add(event(100.0 + i * 0.1, "completed", "mail"))
    h.add(event(100.5, "failed", "mail"))
    h.add(event(100.5, "running", "mail"))
    h.add(event(101.2, "completed", "images"))
    assert h.queues["mail"].throughput.series(102.0)[-2:] == [3.0, 0.0]
    assert h.queues["mail"].throughput.series(102.0, "failed")[-2] == 1.0
    assert h.queues["images"].throughput.series(102.0)[-1] == 1.0
    assert h.throughput.series(102.0)[-2:] == [3.0, 1.0]


def test_a_trend_keeps_one_value_a_second_and_carries_it_forward() -> None:
    t = Trend(window=5)
    t.add(10.2, 1.0)
    t.add(10.8, 2.0)  # the same second: the last reading wins
    t.add(12.1, 5.0)
    assert t.series(13.5) == [0.0, 2.0, 2.0, 5.0, 5.0]
    assert t.latest() == 5.0


def test_queue_samples_are_bounded_in_number_of_queues() -> None:
    h = History()
    queues = [QueueInfo(f"q{i}", False, {"pending": i, "retrying": 1}) for i in range(MAX_QUEUES + 5)]
    h.add_queues(50.0, queues, {"q3": WaitStats("q3", 10, 0.2, 1.5)})
    assert len(h.queues) == MAX_QUEUES
    assert h.queues["q3"].waiting.latest() == 4.0
    assert (h.queues["q3"].wait_p50.latest(), h.queues["q3"].wait_p99.latest()) == (0.2, 1.5)
    assert h.queues["q4"].wait_p50.latest() is None  # no sample read: no made-up wait


def test_squeeze_spans_the_whole_window() -> None:
    values = [0.0] * 50 + [6.0] * 10
    assert fmt.squeeze(values, 6) == [0.0, 0.0, 0.0, 0.0, 0.0, 6.0]
    assert fmt.squeeze([1.0, 9.0, 2.0, 3.0], 2, mean=False) == [9.0, 3.0]
    assert fmt.squeeze([1.0, 2.0], 5) == [1.0, 2.0]


async def test_w_opens_the_per_queue_charts_and_wide_queue_rows_carry_them() -> None:
    app = scenario.make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await scenario.seed(app)
        screen = dashboard(app)
        queues = screen.query_one("#queues", QueuesTable)
        await until(pilot, lambda: "default" in queues.rows and "thru" in [str(k.value) for k in queues.columns])
        labels = [str(c.label) for c in queues.columns.values()]
        assert labels[-2:] == ["done/s · 60s", "wait p50 · 60s"]
        assert queues.get_row("default")[-2].plain.endswith("0.6/s")  # 6 done in the last 10 s
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, QueueChartsScreen))
        table: Any = app.screen.query_one("#charts-table", ChartsTable)
        await until(pilot, lambda: "default" in table.rows)
        row = [c if isinstance(c, str) else c.plain for c in table.get_row("default")]
        assert row[2] == "0.6/s" and row[-1] == "4"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, QueueChartsScreen))


async def test_enter_on_a_dead_worker_shows_what_waits_for_lease_recovery() -> None:
    from gdw_tui.screens.held import HeldScreen, HeldTable
    from gdw_tui.widgets.tables import WorkersTable

    from .conftest import shown

    app = scenario.make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await scenario.seed(app)
        workers = dashboard(app).query_one("#workers", WorkersTable)
        await until(pilot, lambda: "host-b:977:1f2e3d" in workers.rows)
        workers.focus()
        workers.move_cursor(row=workers.get_row_index("host-b:977:1f2e3d"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HeldScreen))
        table: Any = app.screen.query_one("#held-table", HeldTable)
        await until(pilot, lambda: "orphan-1" in table.rows)
        row = [c if isinstance(c, str) else c.plain for c in table.get_row("orphan-1")]
        assert row[2] == "running" and "lease recovery returns it" in row[3]
        note = shown(app.screen.query_one("#held-note"))
        assert "1 task(s) held" in note and "1 still wait for lease recovery, nothing is lost" in note
