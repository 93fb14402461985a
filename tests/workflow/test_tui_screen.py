"""The dashboard's workflow view: ``w`` on a task's detail opens it; each node shows its state and
the view follows the workflow live (a blocked callback turns completed when its members finish)."""

from __future__ import annotations

import asyncio

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


async def test_the_row_the_operator_is_on_stays_through_refreshes() -> None:
    """A workflow longer than the screen: the operator scrolls to a node further down; the view's
    next reads (one after a node changed) keep that row selected and in view."""
    q = TaskQueue(worker_count=0, queue_size=None, tasks=[demo_tasks])
    await q.start()
    try:
        handle = await q.submit_workflow(chord([sig(demo_tasks.fast, i) for i in range(60)], sig(demo_tasks.fast)))
        cb = handle.ids[-1]
        app = GdwApp(q)
        async with app.run_test(size=(120, 24)) as pilot:
            await pilot.pause()
            screen = WorkflowScreen(cb, app.source, app.options)
            app.push_screen(screen)
            await until(pilot, lambda: screen.view is not None)
            table = screen.query_one("#wf-nodes", NodesTable)
            assert table.row_count == 61
            await until(pilot, lambda: table.settled)  # measured: the table knows how tall it is
            table.focus()
            table.move_cursor(row=45)
            target = table.selected_key
            await until(pilot, lambda: table.scroll_y > 0)  # the row is in view
            for _ in range(3):  # the refresh tick's reads
                await screen.reload()
                await pilot.pause()
            await q.cancel(handle.ids[0])  # a node changes: its row is updated in place
            await until(pilot, lambda: "cancelled" in str(table.get_row(handle.ids[0])[2]))
            assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == target
            assert table.scroll_y > 0
    finally:
        await q.shutdown(timeout=0)
    await asyncio.sleep(0)
