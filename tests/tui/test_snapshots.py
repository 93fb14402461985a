"""Snapshots of every screen at three terminal sizes (80x24, 120x40, 200x60) with a fixed clock and
fixed data (pytest-textual-snapshot). Update them with ``pytest tests/tui --snapshot-update`` after
a deliberate change, and look at them."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input
from textual.worker import WorkerState

from gdw_tui.screens.dashboard import DashboardScreen
from gdw_tui.widgets.synced import SyncedTable

from . import scenario
from .conftest import until

SIZES = [(80, 24), (120, 40), (200, 60)]
sizes = pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])


def prepare(*keys: str, select: str | None = None) -> Any:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.snapshot is not None)
        await scenario.seed(app)
        screen = app.screen
        await until(pilot, lambda: screen.snapshot is not None and len(screen.snapshot.workers) == 2)
        await pilot.press(*keys[:1])
        # the list the key asked for is read and measured before a dialog covers it, so the
        # picture does not depend on how far the read got (rows drawn before the table measured
        # them stayed label-wide behind the help dialog in CI: SyncedTable now draws them again,
        # tests/tui/test_synced.py)
        await until(pilot, lambda: not _reading(pilot.app))
        await until(pilot, lambda: all(t.settled for t in screen.query(SyncedTable)))
        await pilot.pause()
        if select is not None:
            tasks = screen.query_one("#tasks")
            await until(pilot, lambda: select in tasks.rows)
            tasks.move_cursor(row=tasks.get_row_index(select))
        await pilot.press(*keys[1:])
        await pilot.pause(0.3)
        # a blinking text cursor is shown or not depending on when the picture is taken (on a
        # loaded machine, late): hold it still so the picture depends only on the screen
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause(0.1)
        # every table measured its rows (a sync late under load leaves columns label-wide until
        # the table's next idle: "defau" for "default", seen once in CI), the tables of the
        # screens under a dialog too: they show through it (the help screen's picture once had
        # the dashboard's task list still label-wide behind it, in CI)
        await until(
            pilot,
            lambda: all(t.settled for screen in pilot.app.screen_stack for t in screen.query(SyncedTable)),
        )

    return run_before


def _reading(app: Any) -> bool:
    """Whether a read of the dashboard's data is still running or waiting to run."""
    return any(w.group == "read" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)


@sizes
def test_dashboard_running(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("4", select="resize-7"))


@sizes
def test_recurring_entries(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("0"))


@sizes
def test_task_detail_failed(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("7", "enter", select="failing-1"))


@sizes
def test_submit_form(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("1", "s"))


@sizes
def test_shutdown_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("4", "d"))


@sizes
def test_help_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("1", "question_mark"))


def test_dashboard_claimed(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=(120, 40), run_before=prepare("3"))


def test_dashboard_retrying_countdown(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=(120, 40), run_before=prepare("5"))


def test_dashboard_scheduled_read_only(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(read_only=True), terminal_size=(120, 40), run_before=prepare("2"))


def test_dashboard_empty_state_says_so(snap_compare: Any) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=(120, 40), run_before=prepare("8"))


@sizes
def test_bulk_purge_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    run_before = prepare("6", "space", "space", "x", select="done-3")
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=run_before)


@sizes
def test_error_groups_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("7", "e"))


@sizes
def test_queue_charts_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=prepare("4", "w"))


def test_dashboard_with_picked_rows(snap_compare: Any) -> None:
    run_before = prepare("6", "space", "space", select="done-3")
    assert snap_compare(scenario.make_app(), terminal_size=(120, 40), run_before=run_before)


def dead_worker_held() -> Any:
    async def run_before(pilot: Any) -> None:
        await prepare("4")(pilot)
        workers = pilot.app.screen.query_one("#workers")
        workers.focus()
        workers.move_cursor(row=workers.get_row_index("host-b:977:1f2e3d"))
        await pilot.press("enter")
        await pilot.pause(0.3)

    return run_before


@sizes
def test_dead_worker_held_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(scenario.make_app(), terminal_size=size, run_before=dead_worker_held())
