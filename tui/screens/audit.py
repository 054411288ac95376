"""Audit: the recent entries of the `audit` container, newest first.

`when` is the acting client's clock; `stored` is when Storage created the entry.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from admin.audit import AuditEntry, recent_entries
from tui.screens.base import AdminScreen, StatusLine, cells


class AuditScreen(AdminScreen):
    BINDINGS = [Binding("g", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[AuditEntry] = []

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Text] = DataTable(id="audit", cursor_type="row")
        table.add_columns("when", "stored", "who", "action", "target", "result")
        yield table
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "audit"
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.in_background(
            lambda: recent_entries(self.archive, days=7),
            self.show,
            self.query_one("#status", StatusLine),
        )

    def show(self, entries: list[AuditEntry]) -> None:
        self.entries = entries
        table = self.query_one(DataTable)
        table.clear()
        for item in entries:
            e = item.entry
            stored = item.service_time.strftime("%H:%M:%S") if item.service_time else "-"
            table.add_row(*cells(
                str(e.get("when", ""))[:19], stored, e.get("who"), e.get("action"),
                json.dumps(e.get("target", {}), sort_keys=True)[:40], str(e.get("result", ""))[:30],
            ))
        self.query_one("#status", StatusLine).update(f"{len(entries)} entr(y/ies), last 7 days")
