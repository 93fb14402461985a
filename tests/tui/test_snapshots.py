"""Snapshots of the main screens with a fixed clock and fixed data (pytest-textual-snapshot).
Update them with ``pytest tests/tui --snapshot-update`` after a deliberate change."""

from __future__ import annotations

from typing import Any

from gdw_tui.screens.dashboard import DashboardScreen

from . import scenario
from .conftest import SIZE, until


def prepare(*keys: str, select: str | None = None) -> Any:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.snapshot is not None)
        await scenario.seed(app)
        screen = app.screen
        await until(pilot, lambda: screen.snapshot is not None and len(screen.snapshot.workers) == 2)
        await pilot.press(*keys[:1])
        if select is not None:
            tasks = screen.query_one("#tasks")
            await until(pilot, lambda: select in tasks.rows)
            tasks.move_cursor(row=tasks.get_row_index(select))
        await pilot.press(*keys[1:])
        await pilot.pause(0.3)

    return run_before


def test_dashboard_running(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=SIZE, run_before=prepare("3"))


def test_dashboard_retrying_countdown(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=SIZE, run_before=prepare("4"))


def test_dashboard_scheduled_read_only(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(read_only=True), terminal_size=SIZE, run_before=prepare("2"))


def test_recurring_entries(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=SIZE, run_before=prepare("8"))


def test_task_detail_failed(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=SIZE, run_before=prepare("6", "enter", select="failing-1"))


def test_submit_form(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=SIZE, run_before=prepare("1", "s"))


def test_shutdown_dialog(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=SIZE, run_before=prepare("3", "d"))
