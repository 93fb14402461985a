"""The dashboard's workflow view: ``w`` on a task's detail opens it; each node shows its state and
the view follows the workflow live (a blocked callback turns completed when its members finish)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.widgets import DataTable

import demo_tasks
from gdw_core import TaskQueue, chord, sig
from gdw_tui.app import GdwApp
from gdw_tui.screens.detail import TaskDetailScreen
from gdw_tui.screens.workflow import NodesTable, WorkflowScreen
from tests.tui.conftest import SIZE, shown, until


async def test_w_opens_the_live_workflow_view() -> None:
    q = TaskQueue(worker_count=0, queue_size=None, tasks=[demo_tasks])  # nothing runs until we say
    await q.start()
    try:
        handle = await q.submit_workflow(chord([sig(demo_tasks.fast, i) for i in range(3)], sig(demo_tasks.fast)))
        cb = handle.ids[-1]
        app = GdwApp(q)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.push_screen(TaskDetailScreen(cb, app.source, app.options, app.actions, app.history))
            await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, WorkflowScreen) and app.screen.view is not None)
            screen = app.screen
            assert isinstance(screen, WorkflowScreen)
            table = screen.query_one("#wf-nodes", DataTable)
            assert table.row_count == 4
            assert "0/4 completed" in shown(screen.query_one("#wf-summary"))
            assert str(table.get_row(cb)[2]) == "blocked"
            runner = TaskQueue(worker_count=2, storage=q.storage, tasks=[demo_tasks])
            await runner.start()
            try:
                await handle.result(timeout=20)
                await until(pilot, lambda: "4/4 completed" in shown(screen.query_one("#wf-summary")))
                assert str(table.get_row(cb)[2]) == "completed"
            finally:
                await runner.shutdown(timeout=0)
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
    finally:
        await q.shutdown(timeout=0)
    await asyncio.sleep(0)


@pytest.fixture
async def idle() -> AsyncIterator[TaskQueue]:
    """A queue with no workers: the workflow stays where the test puts it."""
    q = TaskQueue(worker_count=0, queue_size=None, tasks=[demo_tasks])
    await q.start()
    try:
        yield q
    finally:
        await q.shutdown(timeout=0)
    await asyncio.sleep(0)


async def open_view(pilot: Any, app: GdwApp, task_id: str) -> tuple[WorkflowScreen, NodesTable]:
    """The workflow screen of ``task_id``, once it has read the workflow."""
    await pilot.pause()
    screen = WorkflowScreen(task_id, app.source, app.options)
    app.push_screen(screen)
    await until(pilot, lambda: screen.view is not None)
    return screen, screen.query_one("#wf-nodes", NodesTable)


async def test_the_row_the_operator_is_on_stays_through_refreshes(idle: TaskQueue) -> None:
    """A workflow longer than the screen: the operator scrolls to a node further down; the view's
    next reads (one after a node changed) keep that row selected and in view."""
    handle = await idle.submit_workflow(chord([sig(demo_tasks.fast, i) for i in range(60)], sig(demo_tasks.fast)))
    app = GdwApp(idle)
    async with app.run_test(size=(120, 24)) as pilot:
        screen, table = await open_view(pilot, app, handle.ids[-1])
        assert table.row_count == 61
        await until(pilot, lambda: table.settled)  # measured: the table knows how tall it is
        table.focus()
        table.move_cursor(row=45)
        target = table.selected_key
        await until(pilot, lambda: table.scroll_y > 0)  # the row is in view
        for _ in range(3):  # the refresh tick's reads
            await screen.reload()
            await pilot.pause()
        await idle.cancel(handle.ids[0])  # a node changes: its row is updated in place
        await until(pilot, lambda: "cancelled" in str(table.get_row(handle.ids[0])[2]))
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == target
        assert table.scroll_y > 0


async def test_at_80_columns_the_links_are_counted_and_the_note_is_in_view(idle: TaskQueue) -> None:
    """At 80 columns the parents and children are counted in one column, so that a cancellation
    note fits on screen; wider, they are listed by id. A resize changes the columns at once."""
    handle = await idle.submit_workflow(chord([sig(demo_tasks.fast, i) for i in range(3)], sig(demo_tasks.fast)))
    member, cb = handle.ids[0], handle.ids[-1]
    await idle.cancel(member)
    app = GdwApp(idle)
    async with app.run_test(size=(80, 24)) as pilot:
        _, table = await open_view(pilot, app, cb)
        await until(pilot, lambda: table.row_count == 4)
        assert [c.key.value for c in table.ordered_columns] == ["id", "task", "state", "links", "note"]
        assert str(table.get_row(cb)[3]) == "3 in · 0 out"
        await until(pilot, lambda: table.settled)
        # the note column starts far enough left for "cancelled by" to be on screen
        start = sum(c.get_render_width(table) for c in table.ordered_columns[:-1])
        assert start + 1 + len("cancelled by") <= table.size.width, (start, table.size.width)
        assert "cancelled by" in str(table.get_row(cb)[4])  # the callback, cancelled with its member
        await pilot.resize_terminal(160, 40)
        await until(pilot, lambda: "children" in [c.key.value for c in table.ordered_columns])
        await until(pilot, lambda: cb in table.rows)
        assert member[:12] in str(table.get_row(cb)[3])  # parents by id, wide
