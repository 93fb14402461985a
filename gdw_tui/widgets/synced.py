"""A DataTable that takes whole pages of rows and updates itself in place: changed cells are
updated, new rows added, gone rows removed, order fixed by a sort — the selection follows its row
and nothing is cleared, so nothing flickers. Its columns can change with the width it has."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

Cell = str | Text
#: (key, label) pairs
Columns = Sequence[tuple[str, str]]


class SyncedTable(DataTable[Cell]):
    """Subclasses define ``COLUMNS`` as (key, label) pairs (or call :meth:`set_columns`)."""

    COLUMNS: Columns = ()

    def __init__(self, **kwargs: object) -> None:
        # renderable foreground wins under the cursor: bars and sparklines keep their colours
        super().__init__(
            cursor_type="row",
            zebra_stripes=True,
            cursor_foreground_priority="renderable",
            **kwargs,  # type: ignore[arg-type]
        )
        self._order: dict[int, int] = {}
        self._columns: tuple[tuple[str, str], ...] = ()

    def on_mount(self) -> None:
        if not self._columns:
            self.set_columns(self.COLUMNS)

    def set_columns(self, columns: Columns) -> None:
        """Use these columns (rows are dropped when they change; the next sync refills them)."""
        wanted = tuple(columns)
        if wanted == self._columns:
            return
        self.clear(columns=True)
        self._columns = wanted
        for key, label in wanted:
            self.add_column(label, key=key)

    async def _on_idle(self, event: events.Idle) -> None:
        """DataTable measures new rows and changed cells here, but keeps the lines it rendered
        before, cached under its update count, which the measuring does not change. A screen
        update between a sync and this moment (a loaded machine, a busy event loop) renders rows
        with columns as wide as their labels ("wa" for "waiting-1"); a table of fixed height gets
        no resize to drop them, so they stayed until the next change, behind a dialog for good
        (the help screen's snapshot in CI). Drop them once the widths are known. (Textual then
        calls DataTable's own handler as well, walking the class hierarchy; it finds nothing left
        to measure.)"""
        # (private names of DataTable: read with getattr, so that a Textual release that renames
        # them loses this repair, which tests/tui/test_synced.py reports, but never the screen)
        measuring = bool(getattr(self, "_require_update_dimensions", False) or getattr(self, "_updated_cells", None))
        await super()._on_idle(event)
        clear = getattr(self, "_clear_caches", None)
        if measuring and callable(clear):
            clear()
            self.refresh()

    @property
    def settled(self) -> bool:
        """True once the column widths and row dimensions match the rows: DataTable measures new
        rows and changed cells when its message queue empties, so a picture taken between a sync
        and that moment shows columns as wide as their labels."""
        return not self._require_update_dimensions and not self._updated_cells

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value

    def sync(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        selected = self.selected_key
        wanted = {key for key, _ in rows}
        for row_key in list(self.rows):
            if row_key.value not in wanted:
                self.remove_row(row_key)
        columns = [key for key, _ in self._columns]
        for key, cells in rows:
            if key in self.rows:
                current = self.get_row(key)
                for col, old, new in zip(columns, current, cells, strict=False):
                    if _plain(old) != _plain(new) or _style(old) != _style(new):
                        self.update_cell(key, col, new, update_width=True)
            else:
                self.add_row(*cells, key=key)
        order = {key: i for i, (key, _) in enumerate(rows)}
        current_order = [rk.value for rk in self._sorted_keys()]
        if current_order != [key for key, _ in rows]:
            # the sort key sees only cells: tell rows apart by their first cell object's identity
            self._order = {id(self.get_row(key)[0]): order[key] for key in order if self.get_row(key)}
            self.sort(key=self._sort_key_for_row)
        if selected is not None and selected in self.rows:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)

    def _sorted_keys(self) -> list[RowKey]:
        return sorted(self.rows, key=self.get_row_index)

    def _sort_key_for_row(self, values: tuple[Cell, ...]) -> int:
        return self._order.get(id(values[0]), len(self._order)) if values else len(self._order)


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _style(cell: object) -> str:
    if isinstance(cell, Text):
        return f"{cell.style}|{[(s.start, s.end, str(s.style)) for s in cell.spans]}"
    return ""
