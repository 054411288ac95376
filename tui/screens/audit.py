"""Audit: the recent entries of the `audit` container, newest first.

`when` is the acting client's clock; `stored` is when Storage created the entry (its
time of day, or the whole time when it is another day than `when`: a wrong clock shows).
"""

from __future__ import annotations

import json
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from admin.audit import AuditEntry, recent_entries
from tui.columns import Column, elide_end, utc_time
from tui.screens.base import AdminScreen, StatusLine
from tui.widgets.facts import Facts
from tui.widgets.fitted_table import FittedTable

COLUMNS = (
    Column("when", "when (UTC)", full=True),
    Column("stored", "stored", full=True),
    Column("who", "who", min=10, share=0.15),
    Column("action", "action", full=True),
    Column("phase", "phase", min=7, drop=1),
    Column("target", "target", min=16, flex=True),
    Column("result", "result", min=8, share=0.12, elide=elide_end),
)


def stored_time(when: str, service_time: datetime | None) -> str:
    if service_time is None:
        return "-"
    stored = utc_time(service_time.isoformat())
    return stored[11:] if stored[:10] == when[:10] else stored


def target_text(entry: dict[str, object]) -> str:
    return json.dumps(entry.get("target", {}), sort_keys=True, ensure_ascii=False)


def strip_pairs(item: AuditEntry | None) -> list[tuple[str, object]] | None:
    if item is None:
        return None
    e = item.entry
    return [("target", target_text(e)), ("result", e.get("result", "-")),
            ("who", e.get("who", "-")), ("phase", e.get("phase", "-"))]


class AuditScreen(AdminScreen):
    BINDINGS = [Binding("g", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[AuditEntry] = []
        self.summary: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield FittedTable(COLUMNS, id="audit")
        yield Facts("no entry selected", more="(cut here)", id="strip")
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("audit")
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        now = self.now()
        self.in_background(
            lambda: recent_entries(self.archive, days=7, now=now),
            self.show,
            self.query_one("#status", StatusLine),
        )

    def show(self, entries: list[AuditEntry]) -> None:
        self.entries = entries
        rows = []
        for item in entries:
            e = item.entry
            when = utc_time(e.get("when"))
            rows.append((
                when, stored_time(when, item.service_time), e.get("who") or "-",
                e.get("action") or "-", e.get("phase") or "-", target_text(e),
                e.get("result") or "-",
            ))
        self.query_one(FittedTable).set_rows(rows)
        self._show_selected()
        self.summary = f"{len(entries)} entr(y/ies), last 7 days"
        self._show_summary()

    def on_fitted_table_refitted(self, _event: FittedTable.Refitted) -> None:
        self._show_summary()

    def _show_summary(self) -> None:
        if self.summary is None:
            return
        gone = ", ".join(c.label for c in self.query_one(FittedTable).hidden_columns)
        note = f" · hidden: {gone} (shown under the table)" if gone else ""
        self.query_one("#status", StatusLine).update(f"{self.summary}{note}")

    def selected(self) -> AuditEntry | None:
        index = self.query_one(FittedTable).cursor_row
        return self.entries[index] if 0 <= index < len(self.entries) else None

    def _show_selected(self) -> None:
        self.query_one("#strip", Facts).show(strip_pairs(self.selected()))

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()
