"""SyncedTable against a real Textual app: what it shows after rows arrive, whatever the moment
the screen happens to be drawn."""

from __future__ import annotations

import re

from textual.app import App, ComposeResult

from gdw_tui.widgets.synced import SyncedTable


class _Table(SyncedTable):
    COLUMNS = (("id", "id"), ("name", "name"))


class _App(App[None]):
    CSS = "_Table { height: 1fr; }"  # a fixed height: adding rows resizes nothing

    def compose(self) -> ComposeResult:
        yield _Table()


def _lines(app: App[None]) -> str:
    svg = app.export_screenshot()
    return " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)).replace("&#160;", " ")


async def test_rows_drawn_before_they_were_measured_are_drawn_again_at_full_width() -> None:
    app = _App()
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.query_one(_Table)
        await pilot.pause()
        table.sync([("w", ["waiting-1", "demo_tasks:fast"])])
        # the screen is drawn before the table measured its new row (what a busy loop does)
        app.screen._on_timer_update()
        assert "waiting-1" not in _lines(app)  # label-wide: the race this test is about
        await pilot.pause()
        await pilot.pause(0.1)
        assert table.settled
        shown = _lines(app)
        assert "waiting-1" in shown and "demo_tasks:fast" in shown, shown


async def test_a_changed_cell_drawn_before_it_was_measured_is_drawn_again_whole() -> None:
    app = _App()
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.query_one(_Table)
        table.sync([("w", ["w-1", "fast"])])
        await pilot.pause()
        await pilot.pause(0.1)
        table.sync([("w", ["w-1", "demo_tasks:much_longer_name"])])
        assert "much_longer" not in _lines(app)  # drawn at the old width, before the measuring
        await pilot.pause()
        await pilot.pause(0.1)
        assert table.settled
        assert "demo_tasks:much_longer_name" in _lines(app)


async def test_a_page_with_a_repeated_key_shows_it_once_and_the_rest_of_the_rows() -> None:
    """A repeated id (data written by hand) is one row, its last cells; the other rows are all
    there, in order."""
    app = _App()
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.query_one(_Table)
        table.sync([("a", ["a", "first"]), ("b", ["b", "ok"]), ("a", ["a", "again"]), ("c", ["c", "ok"])])
        await pilot.pause()
        assert [k.value for k in sorted(table.rows, key=table.get_row_index)] == ["b", "a", "c"]
        assert str(table.get_row("a")[1]) == "again"
