"""A DataTable that takes whole pages of rows and updates itself in place: changed cells are
updated, new rows added, gone rows removed, order fixed by a sort — the selection follows its row
and nothing is cleared, so nothing flickers."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

Cell = str | Text


class SyncedTable(DataTable[Cell]):
    """Subclasses define ``COLUMNS`` as (key, label) pairs."""

    COLUMNS: Sequence[tuple[str, str]] = ()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._order: dict[str, int] = {}

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

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
        columns = [key for key, _ in self.COLUMNS]
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
            first = {_plain(cells[0]): key for key, cells in rows if cells}
            self._order = {f: order[k] for f, k in first.items()}
            self.sort(key=self._sort_key_for_row)
        if selected is not None and selected in self.rows:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)

    def _sorted_keys(self) -> list[RowKey]:
        return sorted(self.rows, key=self.get_row_index)

    def _sort_key_for_row(self, values: tuple[Cell, ...]) -> int:
        # rows are told apart by their first column (an id), mapped to the wanted position
        first = _plain(values[0]) if values else ""
        return self._order.get(first, len(self._order))


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _style(cell: object) -> str:
    if isinstance(cell, Text):
        return f"{cell.style}|{[(s.start, s.end, str(s.style)) for s in cell.spans]}"
    return ""
