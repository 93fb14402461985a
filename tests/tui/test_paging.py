"""Paging inside a view filtered in storage: each page resumes the storage scan where the last one
ended, `[` goes back, and the title says which page it is and when it is the last."""

from __future__ import annotations

from gdw_core import TaskQueue
from gdw_tui.app import GdwApp
from gdw_tui.paging import Pager
from gdw_tui.widgets.tables import TasksTable

from .conftest import SIZE, until
from .test_bulk import make_failed, open_tab
from .test_live import dashboard


def test_the_pager_walks_cursors_forward_and_back() -> None:
    p = Pager(size=5)
    p.read_done((7.0, "t7"), filtered=True)
    assert p.more and p.next() and p.cursor == (7.0, "t7")
    p.read_done(None, filtered=True)
    assert not p.next() and p.cursor == (7.0, "t7")
    assert p.label(3) == "page 2 (the last): 3 matching, filtered in storage"
    assert p.previous() and p.cursor is None and not p.previous()
    p.read_done((1.0, "a"), filtered=False)
    p.clamp(12)
    assert p.next() and p.label(5) == "page 2: 5 of 12"
    assert p.cycle_sort() == "age, reversed" and p.cursor is None and p.reverse  # a new walk
    assert p.cycle_sort() == "name" and p.cursor is None and not p.reverse
    assert p.label(5) == "1-5 of 12, sorted by name within this page"


async def test_a_page_stays_put_while_tasks_before_it_move_on(idle: TaskQueue) -> None:
    ids = [await idle.submit("demo_tasks:fast", i) for i in range(25)]
    app = GdwApp(idle, follow_events=False, page_size=10)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_tab(pilot, app, "pending", 10)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: {str(k.value) for k in table.rows} == set(ids[10:20]))
        for task_id in ids[:5]:  # five tasks before this page leave the state
            await idle.cancel(task_id)
        dashboard(app).request_read()
        await until(pilot, lambda: "page 2: 10 of 20" in str(dashboard(app).query_one("#lists").border_title))
        assert {str(k.value) for k in table.rows} == set(ids[10:20])  # by offset it would be ids[15:25]
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: {str(k.value) for k in table.rows} == set(ids[20:]))


def test_pages_asked_for_faster_than_they_load_are_all_walked() -> None:
    p = Pager(size=5)
    p.read_done((5.0, "t5"), filtered=False)
    assert p.next() and p.next() and p.next()  # three presses; the second page is still loading
    assert p.cursor == (5.0, "t5")
    assert p.read_done((10.0, "t10"), filtered=False)  # moved on: read the third page
    assert p.cursor == (10.0, "t10")
    assert p.read_done((15.0, "t15"), filtered=False) and p.cursor == (15.0, "t15")
    assert not p.read_done(None, filtered=False) and p.cursor == (15.0, "t15")  # the last page
    assert not p.next()
    assert p.previous() and p.next()  # back, and on again before the page came: kept
    assert p.cursor == (10.0, "t10") and p.read_done((15.0, "t15"), filtered=False)
    assert p.cursor == (15.0, "t15")
    assert not p.read_done(None, filtered=False) and not p.next()  # the end, once it is read
    q = Pager(size=5)
    q.read_done((5.0, "t5"), filtered=False)
    assert q.next() and q.next() and q.previous()  # on, on again, back: the second move is taken back
    assert not q.read_done((10.0, "t10"), filtered=False) and q.cursor == (5.0, "t5")


async def test_age_reversed_walks_the_whole_state_from_its_other_end(idle: TaskQueue) -> None:
    ids = [await idle.submit("demo_tasks:fast", i) for i in range(25)]
    app = GdwApp(idle, follow_events=False, page_size=10)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_tab(pilot, app, "pending", 10)
        await pilot.press("o")
        await until(pilot, lambda: [str(k.value) for k in table.rows] == ids[::-1][:10])
        await pilot.press("right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: [str(k.value) for k in table.rows] == ids[::-1][20:])


async def test_paging_through_a_storage_filter_reaches_every_match_once(idle: TaskQueue) -> None:
    wanted: set[str] = set()
    for _ in range(4):  # matches and non-matches interleaved in the index
        wanted |= set(await make_failed(idle, 3, "RuntimeError", "upstream 503"))
        await make_failed(idle, 2, "ValueError", "bad input")
    app = GdwApp(idle, follow_events=False, page_size=5)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "failed", 5)
        await pilot.press("slash", *"error:upstream", "enter")
        screen = dashboard(app)
        table = screen.query_one("#tasks", TasksTable)
        lists = screen.query_one("#lists")
        seen: list[set[str]] = []
        for page in (1, 2, 3):
            title = f"page {page}"
            await until(pilot, lambda t=title: str(lists.border_title).startswith(f"failed tasks · {t}"))
            rows = {str(k.value) for k in table.rows}
            assert rows <= wanted and rows not in seen
            seen.append(rows)
            if page < 3:
                await pilot.press("right_square_bracket")
        assert set().union(*seen) == wanted and [len(r) for r in seen] == [5, 5, 2]
        assert "(the last)" in str(lists.border_title)
        await pilot.press("right_square_bracket")  # no page after the last
        await pilot.pause()
        assert str(lists.border_title).startswith("failed tasks · page 3")
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: str(lists.border_title).startswith("failed tasks · page 2"))
        await until(pilot, lambda: {str(k.value) for k in table.rows} == seen[1])
        await pilot.press("escape")  # clears the filter: back to plain pages from the start
        await until(pilot, lambda: str(lists.border_title) == "failed tasks · 1-5 of 20")
