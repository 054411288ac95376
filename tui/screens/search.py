"""Search: facet inputs, a paged newest-first table, Enter opens the message."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Select

from admin.actions import audited_search
from admin.connection import AdminError
from admin.search import COLUMNS, SearchPage, SearchQuery
from tui.screens.base import AdminScreen, StatusLine, cells
from tui.screens.detail import DetailScreen

PAGE_SIZE = 25


def parse_time(text: str, *, end: bool) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end else moment
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AdminError(f"not a date (YYYY-MM-DD) or ISO time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SearchScreen(AdminScreen):
    BINDINGS = [
        Binding("ctrl+s", "search", "Search"),
        Binding("ctrl+n", "next_page", "Next page"),
        Binding("ctrl+b", "first_page", "First page"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.query_used: SearchQuery | None = None
        self.next_token: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(classes="facets"):
            yield Input(placeholder="participant", id="participant")
            yield Input(placeholder="message id", id="message_id")
            yield Input(placeholder="type", id="type")
        with Horizontal(classes="facets"):
            yield Input(placeholder="from YYYY-MM-DD", id="start")
            yield Input(placeholder="to YYYY-MM-DD", id="end")
            yield Select(
                [("inbound", "inbound"), ("outbound", "outbound")],
                prompt="direction", id="direction",
            )
        table: DataTable[Text] = DataTable(id="results", cursor_type="row")
        table.add_columns(*COLUMNS)
        yield table
        yield StatusLine("Enter in a field searches; Enter on a row opens it", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "search"
        self.query_one("#participant", Input).focus()

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def _value(self, widget_id: str) -> str | None:
        return self.query_one(f"#{widget_id}", Input).value.strip() or None

    def build_query(self) -> SearchQuery:
        direction = self.query_one("#direction", Select).value
        return SearchQuery(
            participant=self._value("participant"),
            message_id=self._value("message_id"),
            type=self._value("type"),
            start=parse_time(self._value("start") or "", end=False),
            end=parse_time(self._value("end") or "", end=True),
            direction=direction if isinstance(direction, str) else None,
        )

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_search()

    def action_search(self) -> None:
        try:
            self.query_used = self.build_query()
        except AdminError as exc:
            self.status.show_error(exc)
            return
        self._load(None)

    def action_first_page(self) -> None:
        if self.query_used is not None:
            self._load(None)

    def action_next_page(self) -> None:
        if self.query_used is None or not self.next_token:
            self.status.update("no more pages")
            return
        self._load(self.next_token)

    def _load(self, token: str | None) -> None:
        query = self.query_used
        assert query is not None
        self.status.update("searching...")
        self.in_background(
            lambda: audited_search(self.archive, query, page_size=PAGE_SIZE, continuation=token),
            self.show,
            self.status,
        )

    def show(self, page: SearchPage) -> None:
        self.rows = page.rows
        self.next_token = page.continuation
        table = self.query_one(DataTable)
        table.clear()
        for row in page.rows:
            table.add_row(*cells(*(row.get(c) for c in COLUMNS)))
        more = "; Ctrl+N: next page" if page.continuation else ""
        self.status.update(f"{len(page.rows)} row(s) from {page.table}{more}")
        if page.rows:
            table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        index = event.cursor_row
        if 0 <= index < len(self.rows):
            self.app.push_screen(DetailScreen(str(self.rows[index]["message_id"])))
