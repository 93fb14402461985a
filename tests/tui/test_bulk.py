"""Bulk actions from the dashboard: pick rows (space) or all matching (a), then retry / cancel /
purge with a dialog that counts in storage, asks with the count, shows progress and ends with the
truthful summary; error groups as a screen that filters the task list. A queue with no workers, so
the states stay put."""

from __future__ import annotations

from typing import Any

import pytest

import demo_tasks
from gdw_core import AttemptError, TaskQueue, TaskStatus
from gdw_core import bulk as B
from gdw_core.storage.protocol import Ack
from gdw_core.views import TaskFilter
from gdw_tui.app import GdwApp
from gdw_tui.screens.bulk import BulkScreen
from gdw_tui.screens.dashboard import TABS
from gdw_tui.screens.errors import ErrorGroupsScreen, GroupsTable
from gdw_tui.widgets.tables import TasksTable

from .conftest import SIZE, shown, until
from .test_actions import notices
from .test_live import dashboard

S = TaskStatus


async def make_failed(
    queue: TaskQueue, n: int, etype: str = "RuntimeError", message: str = "upstream 503"
) -> list[str]:
    ids = [await queue.submit("demo_tasks:failing") for _ in range(n)]
    storage = queue.storage
    now = await storage.now()
    for lease in await storage.claim("w-1", ["default"], n, 30.0, 0.0):
        error = AttemptError(1, etype, message, "Traceback ...", now, "w-1")
        assert await storage.fail(lease.task.id, lease.token, error, None) is S.FAILED
    return ids


async def make_completed(queue: TaskQueue, n: int) -> list[str]:
    ids = [await queue.submit("demo_tasks:fast", i) for i in range(n)]
    leases = await queue.storage.claim("w-1", ["default"], n, 30.0, 0.0)
    await queue.storage.complete([Ack(lease.task.id, lease.token, "ok") for lease in leases])
    return ids


def tab_key(state: str) -> str:
    return str(TABS.index(state) + 1)


async def open_tab(pilot: Any, app: Any, state: str, rows: int) -> TasksTable:
    await pilot.press(tab_key(state))
    table = dashboard(app).query_one("#tasks", TasksTable)
    await until(pilot, lambda: dashboard(app).shown == state and table.row_count == rows)
    table.focus()
    return table


async def bulk_dialog(pilot: Any, app: Any, key: str, stage: str = "asking") -> BulkScreen:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, BulkScreen) and app.screen.stage == stage)
    screen = app.screen
    assert isinstance(screen, BulkScreen)
    return screen


async def confirm_and_finish(pilot: Any, app: Any, dialog: BulkScreen) -> B.Summary:
    await pilot.press("y")
    await until(pilot, lambda: dialog.stage == "done")
    assert dialog.summary is not None
    summary = dialog.summary
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, BulkScreen))
    return summary


async def test_picked_rows_are_retried_and_a_vanished_one_is_skipped_with_its_reason(idle: TaskQueue) -> None:
    ids = await make_failed(idle, 3)
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_tab(pilot, app, "failed", 3)
        await pilot.press("space", "space", "space")  # each pick moves the cursor on
        screen = dashboard(app)
        assert set(screen.selection.ids) == set(ids)
        assert table.get_row_at(0)[0].plain.startswith("● ")
        assert "3 selected" in str(screen.query_one("#lists").border_subtitle)
        gone = ids[1]
        assert (await idle.storage.act_on(B.Action.PURGE, gone)).done  # vanishes behind the operator's back
        dialog = await bulk_dialog(pilot, app, "r")
        assert "Retry 3 tasks: the picked tasks?" in shown(dialog.query_one("#question"))
        summary = await confirm_and_finish(pilot, app, dialog)
        assert summary.done == 2 and dict(summary.skipped) == {"gone": 1}
        assert any("retry on 3 task(s): 2 done; 1 skipped (1 gone)" in n for n in notices(app))
        assert screen.selection.empty
    assert [(await idle.status(i)).status for i in (ids[0], ids[2])] == [S.PENDING, S.PENDING]


async def test_all_matching_a_storage_filter_is_counted_in_storage_not_on_the_page(idle: TaskQueue) -> None:
    upstream = await make_failed(idle, 12, "RuntimeError", "upstream 503")
    others = await make_failed(idle, 3, "ValueError", "bad input")
    app = GdwApp(idle, follow_events=False, page_size=5)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "failed", 5)
        await pilot.press("slash", *"error:upstream", "enter")
        screen = dashboard(app)
        await until(pilot, lambda: screen.source.storage_filter == TaskFilter(error="upstream"))
        await pilot.press("a")
        assert screen.selection.scope is not None
        dialog = await bulk_dialog(pilot, app, "r")
        question = shown(dialog.query_one("#question"))
        assert "Retry 12 tasks: all failed tasks matching error:upstream?" in question
        summary = await confirm_and_finish(pilot, app, dialog)
        assert summary.done == 12 and not summary.skipped
    assert {(await idle.status(i)).status for i in upstream} == {S.PENDING}
    assert {(await idle.status(i)).status for i in others} == {S.FAILED}


async def test_purge_all_of_a_state_walks_it_through_the_engine(idle: TaskQueue) -> None:
    await make_completed(idle, 7)
    app = GdwApp(idle, follow_events=False, page_size=5)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "completed", 5)
        await pilot.press("a")
        dialog = await bulk_dialog(pilot, app, "x")
        assert "Purge 7 tasks: all completed tasks?" in shown(dialog.query_one("#question"))
        assert "cannot be undone" in shown(dialog.query_one("#question"))
        summary = await confirm_and_finish(pilot, app, dialog)
        assert summary.done == 7
    assert (await idle.inspect.counts())[S.COMPLETED] == 0


async def test_cancel_one_picked_task_leaves_the_others(idle: TaskQueue) -> None:
    first = await idle.schedule("demo_tasks:fast", 3600)
    second = await idle.schedule("demo_tasks:fast", 7200)
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_tab(pilot, app, "scheduled", 2)
        table.move_cursor(row=table.get_row_index(second))
        await pilot.press("space")
        dialog = await bulk_dialog(pilot, app, "c")
        assert "Cancel 1 task" in shown(dialog.query_one("#question"))
        summary = await confirm_and_finish(pilot, app, dialog)
        assert summary.done == 1
    assert (await idle.status(second)).status is S.CANCELLED
    assert (await idle.status(first)).status is S.SCHEDULED


async def test_no_changes_nothing_and_space_again_unpicks(idle: TaskQueue) -> None:
    [task_id] = await make_failed(idle, 1)
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "failed", 1)
        await pilot.press("space")
        dialog = await bulk_dialog(pilot, app, "x")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, BulkScreen))
        assert dialog.summary is None
        screen = dashboard(app)
        assert list(screen.selection.ids) == [task_id]
        await pilot.press("space")
        assert screen.selection.empty
    assert (await idle.status(task_id)).status is S.FAILED


async def test_a_state_the_action_cannot_act_on_is_refused_before_anything_changes(idle: TaskQueue) -> None:
    await idle.submit("demo_tasks:fast", 1)
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "pending", 1)
        await pilot.press("a")
        dialog = await bulk_dialog(pilot, app, "x", stage="done")
        words = shown(dialog.query_one("#question"))
        assert "nothing changed" in words and "purge does not act on pending tasks" in words
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, BulkScreen))
    assert (await idle.inspect.counts())[S.PENDING] == 1


async def test_read_only_picks_rows_but_acts_on_none(idle: TaskQueue) -> None:
    [task_id] = await make_failed(idle, 1)
    app = GdwApp(idle, follow_events=False, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "failed", 1)
        await pilot.press("space")
        for key in ("r", "c", "x"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is dashboard(app)
    assert (await idle.status(task_id)).status is S.FAILED


async def test_error_groups_screen_filters_the_task_list_by_one_group(idle: TaskQueue) -> None:
    await make_failed(idle, 4, "RuntimeError", "upstream 503 for order 1")
    bad = await make_failed(idle, 2, "ValueError", "bad input 7")
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ErrorGroupsScreen))
        groups = app.screen.query_one("#groups", GroupsTable)
        await until(pilot, lambda: groups.row_count == 2)
        assert [groups.get_row_at(i)[0].plain for i in range(2)] == ["4", "2"]
        assert groups.get_row_at(1)[2].plain == "bad input N"  # numbers folded into one group
        assert groups.get_row_at(1)[3].plain == "2 failed"
        groups.move_cursor(row=1)
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ErrorGroupsScreen))
        screen = dashboard(app)
        assert screen.source.storage_filter == TaskFilter(error_type="ValueError", error_message="bad input N")
        table = screen.query_one("#tasks", TasksTable)
        await until(pilot, lambda: screen.shown == "failed" and set(table.rows) == set(bad))


async def test_error_groups_screen_says_when_there_are_none(idle: TaskQueue) -> None:
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ErrorGroupsScreen))
        note = app.screen.query_one("#errors-note")
        await until(pilot, lambda: "no errors in the last 15 minutes" in shown(note))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ErrorGroupsScreen))


async def test_tabs_follow_the_state_enum_and_t_cycles_them(idle: TaskQueue) -> None:
    assert set(TABS) == {str(s) for s in S} | {"recurring"}
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = dashboard(app)
        await until(pilot, lambda: screen.snapshot is not None)
        start = TABS.index(screen.shown)
        await pilot.press("t")
        await until(pilot, lambda: screen.shown == TABS[(start + 1) % len(TABS)])
        await pilot.press("T", "T")
        await until(pilot, lambda: screen.shown == TABS[(start - 1) % len(TABS)])


@pytest.mark.redis
async def test_on_redis_a_garbage_record_among_the_picked_rows_is_skipped_alone() -> None:
    from gdw_core.storage.redis import RedisStorage
    from tests.contract.test_rerun_contract import plant_garbage
    from tests.support.redis_server import RedisServer

    with RedisServer() as server:
        queue = TaskQueue(worker_count=0, storage=RedisStorage.from_url(server.url), tasks=[demo_tasks])
        await queue.open_storage()
        try:
            ids = await make_failed(queue, 3)
            bad = await plant_garbage(queue.storage, S.FAILED)
            app = GdwApp(queue, follow_events=False, close_queue=False)
            async with app.run_test(size=SIZE) as pilot:
                table = await open_tab(pilot, app, "failed", 4)
                assert bad in table.rows  # shown (as unreadable), and pickable like any row
                await pilot.press("space", "space", "space", "space")
                dialog = await bulk_dialog(pilot, app, "r")
                summary = await confirm_and_finish(pilot, app, dialog)
                assert summary.done == 3
                assert dict(summary.skipped) == {"unreadable record: a string key": 1}
            assert {(await queue.status(i)).status for i in ids} == {S.PENDING}
        finally:
            await queue.shutdown(timeout=0)


async def test_an_error_group_can_be_re_run_whole_from_the_dashboard(idle: TaskQueue) -> None:
    group = await make_failed(idle, 6, "TimeoutError", "call 17 took too long")
    others = await make_failed(idle, 2, "TimeoutError", "connect refused")
    app = GdwApp(idle, follow_events=False, page_size=4)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard(app).snapshot is not None)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ErrorGroupsScreen))
        groups = app.screen.query_one("#groups", GroupsTable)
        await until(pilot, lambda: groups.row_count == 2)
        await pilot.press("enter")  # the top group: 6 x "call N took too long"
        await until(pilot, lambda: dashboard(app).shown == "failed")
        dashboard(app).query_one("#tasks", TasksTable).focus()
        await pilot.press("a")
        dialog = await bulk_dialog(pilot, app, "r")
        assert "Retry 6 tasks: all failed tasks matching group:TimeoutError: call N took too long?" in shown(
            dialog.query_one("#question")
        )
        summary = await confirm_and_finish(pilot, app, dialog)
        assert summary.done == 6
    assert {(await idle.status(i)).status for i in group} == {S.PENDING}
    assert {(await idle.status(i)).status for i in others} == {S.FAILED}


async def test_esc_while_counting_stops_before_anything_changes(idle: TaskQueue, monkeypatch: Any) -> None:
    import asyncio

    from gdw_tui import bulkplan

    [task_id] = await make_failed(idle, 1)
    stopped = asyncio.Event()

    async def slow_count(*args: Any, **kwargs: Any) -> Any:
        kwargs["progress"](2000, 0)
        try:
            await asyncio.Event().wait()  # a pass over a huge state
        finally:
            stopped.set()

    monkeypatch.setattr(bulkplan, "matching_ids", slow_count)
    app = GdwApp(idle, follow_events=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "failed", 1)
        await pilot.press("slash", *"error:upstream", "enter")
        await until(pilot, lambda: dashboard(app).source.storage_filter is not None)
        await pilot.press("a")
        dialog = await bulk_dialog(pilot, app, "r", stage="counting")
        await until(pilot, lambda: "2,000 looked at, 0 match (esc stops)" in shown(dialog.query_one("#question")))
        await pilot.press("y")  # nothing to say yes to yet
        assert dialog.stage == "counting"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, BulkScreen) and stopped.is_set())
    assert (await idle.status(task_id)).status is S.FAILED


async def test_pick_all_says_how_many_from_the_storage_counters(idle: TaskQueue) -> None:
    await make_completed(idle, 7)
    app = GdwApp(idle, follow_events=False, page_size=5)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "completed", 5)
        await pilot.press("a")
        await until(pilot, lambda: any("picked all completed tasks: 7 now" in n for n in notices(app)))
        assert "selected: all completed tasks" in str(dashboard(app).query_one("#lists").border_subtitle)
        await pilot.press("a")  # again: unpicked
        assert dashboard(app).selection.empty
