"""A DataTable whose columns fit the terminal (see tui/columns.py for the rules).

The screen hands it column specs and rows of plain values; it shows them as Text
(never Rich markup: archive data is provider-controlled), elided to the widths that
fit, and fits them again whenever its size changes. The full values stay in `rows`,
so a detail strip or a test reads them whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from admin.text import printable
from tui.columns import GAP, Column, Fitted, elide_end, fit_columns, hidden

SCROLLBAR = 1  # app.tcss gives DataTable a one-cell vertical scrollbar


class FittedTable(DataTable[Text]):
    class Refitted(Message):
        """The columns were fitted again (new rows or a new width)."""

        def __init__(self, table: FittedTable) -> None:
            super().__init__()
            self.table = table

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", cell_padding=0, zebra_stripes=False)
        self.specs = list(columns)
        self.rows_text: list[list[str]] = []
        self.fitted: list[Fitted] = []
        self._fitted_width = -1

    @property
    def hidden_columns(self) -> list[Column]:
        return hidden(self.specs, self.fitted)

    def on_mount(self) -> None:
        self._refit(force=True)

    def set_rows(self, rows: Sequence[Sequence[object]]) -> None:
        """Replace every row (values in the order of the column specs)."""
        self.rows_text = [[printable(v) for v in row] for row in rows]
        self._refit(force=True)

    def on_resize(self, _event: events.Resize) -> None:
        self._refit()

    def _available(self) -> int:
        width = self.size.width or self.app.size.width
        return max(1, width - SCROLLBAR)

    def _refit(self, *, force: bool = False) -> None:
        width = self._available()
        if width == self._fitted_width and not force:
            return
        self._fitted_width = width
        self.fitted = fit_columns(self.specs, self.rows_text, width)
        cursor = self.cursor_row
        index = {c.key: i for i, c in enumerate(self.specs)}
        self.clear(columns=True)
        last = len(self.fitted) - 1
        for n, f in enumerate(self.fitted):
            gap = 0 if n == last else GAP
            label = Text(elide_end(f.column.label, f.width))
            self.add_column(label, width=f.width + gap, key=f.column.key)
        for row in self.rows_text:
            self.add_row(*(
                Text(f.column.elide(row[index[f.column.key]], f.width)) for f in self.fitted
            ))
        if self.rows_text:
            self.move_cursor(row=min(max(cursor, 0), len(self.rows_text) - 1))
        self.post_message(self.Refitted(self))
