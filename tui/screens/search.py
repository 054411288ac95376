"""Search: facet inputs, a paged newest-first table, Enter opens the message.

With a phrase in "text", the search is a keyword search (admin.text_search) scoped by the
participant and the dates; days without term rows are scanned, with progress shown on the
status line while the worker reads them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Select

from admin.actions import audited_search, audited_text_search
from admin.connection import AdminError
from admin.search import PROVIDERS, SearchPage, SearchQuery
from admin.text_search import TextPage, TextProgress, TextQuery
from tui.columns import Column, utc_time
from tui.screens.base import AdminScreen, StatusLine
from tui.screens.detail import DetailScreen
from tui.widgets.facts import Facts
from tui.widgets.fitted_table import FittedTable

PAGE_SIZE = 25

# Time, event and direction show whole; type, from, the conversation and the message
# id always show (elided in the middle when narrow); `to` and `status` drop off first.
COLUMNS = (
    Column("time", "time (UTC)", full=True),
    Column("event", "event", full=True),
    Column("direction", "direction", full=True),
    Column("type", "type", min=8),
    Column("from", "from", min=10, share=0.11),
    Column("to", "to", min=10, share=0.10, drop=2),
    Column("conversation", "conversation", min=10, share=0.13),
    Column("status", "status", min=9, drop=1),
    Column("message_id", "message id", min=12, flex=True),
)


def row_values(row: dict[str, Any]) -> list[str]:
    """One index row as the table's cells; the conversation is its customer (or group)."""
    return [
        utc_time(row.get("timestamp")), str(row.get("event") or ""),
        str(row.get("direction") or ""), str(row.get("type") or ""),
        str(row.get("from") or ""), str(row.get("to") or ""),
        str(row.get("customer_id") or ""), str(row.get("status") or ""),
        str(row.get("message_id") or ""),
    ]


def strip_pairs(row: dict[str, Any] | None) -> list[tuple[str, object]] | None:
    """The selected row whole, hidden columns included."""
    if row is None:
        return None
    conversation = f"{row.get('business_id') or '-'}~~{row.get('customer_id') or '-'}"
    pairs: list[tuple[str, object]] = [
        ("message", row.get("message_id")),
        ("from → to", f"{row.get('from') or '-'} → {row.get('to') or '-'}"),
        ("conversation", conversation),
    ]
    if row.get("status"):
        pairs.append(("status", row.get("status")))
    if row.get("fields"):
        pairs.append(("found in", ", ".join(str(f) for f in row["fields"])))
    return pairs


def progress_line(p: TextProgress) -> str:
    """The status line while days are scanned: counts only, never names or content."""
    return (f"scanning {p.day} (day {p.days_done + 1}/{p.days_total}): "
            f"{p.done}/{p.total} record(s) read...")


def page_summary(page: SearchPage | TextPage) -> str:
    more = ", more: Ctrl+N" if page.continuation else ""
    if isinstance(page, TextPage):
        return (f"{len(page.rows)} row(s), text: {page.days_indexed} day(s) indexed, "
                f"{page.days_scanned} scanned{more}")
    return f"{len(page.rows)} row(s), {page.table}{more}"


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
        Binding("ctrl+o", "export", "Export"),  # ctrl+e is the Input's end-of-line
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summary: str | None = None  # the last page's status line, before the hidden note
        self.rows: list[dict[str, Any]] = []
        self.query_used: SearchQuery | TextQuery | None = None
        self.next_token: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(classes="facets"):
            yield Input(placeholder="participant", id="participant")
            yield Input(placeholder="message id", id="message_id")
            yield Input(placeholder="type", id="type")
            yield Input(placeholder="text search", id="text")
        with Horizontal(classes="facets"):
            yield Input(placeholder="from YYYY-MM-DD", id="start")
            yield Input(placeholder="to YYYY-MM-DD", id="end")
            yield Select(
                [("inbound", "inbound"), ("outbound", "outbound")],
                prompt="direction", id="direction",
            )
            yield Select([(p, p) for p in PROVIDERS], prompt="provider", id="provider")
        yield FittedTable(COLUMNS, id="results")
        yield Facts("Enter in a field searches; Enter on a row opens the message",
                    more="Enter opens the message", id="strip")
        yield StatusLine("Enter in a field searches; Enter on a row opens it", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("search")
        self.query_one("#participant", Input).focus()

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def _value(self, widget_id: str) -> str | None:
        return self.query_one(f"#{widget_id}", Input).value.strip() or None

    def build_query(self) -> SearchQuery | TextQuery:
        direction = self.query_one("#direction", Select).value
        provider = self.query_one("#provider", Select).value
        text = self._value("text")
        if text is not None:
            others = [name for name, given in (
                ("message id", self._value("message_id")), ("type", self._value("type")),
                ("direction", isinstance(direction, str)),
                ("provider", isinstance(provider, str))) if given]
            if others:
                raise AdminError("a text search combines with participant and dates only, "
                                 f"not {', '.join(others)}")
            return TextQuery(text, participant=self._value("participant"),
                             start=parse_time(self._value("start") or "", end=False),
                             end=parse_time(self._value("end") or "", end=True))
        return SearchQuery(
            participant=self._value("participant"),
            message_id=self._value("message_id"),
            type=self._value("type"),
            start=parse_time(self._value("start") or "", end=False),
            end=parse_time(self._value("end") or "", end=True),
            direction=direction if isinstance(direction, str) else None,
            provider=provider if isinstance(provider, str) else None,
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
        if isinstance(query, TextQuery):
            self.in_background(lambda: self._text_page(query, token), self.show, self.status)
            return
        self.in_background(
            lambda: audited_search(self.archive, query, page_size=PAGE_SIZE, continuation=token),
            self.show,
            self.status,
        )

    def _text_page(self, query: TextQuery, token: str | None) -> TextPage:
        """On the worker thread: progress goes to the status line through the UI thread."""

        def progress(p: TextProgress) -> None:
            self.app.call_from_thread(self.status.update, progress_line(p))

        return audited_text_search(self.archive, query, page_size=PAGE_SIZE,
                                   continuation=token, progress=progress)

    def show(self, page: SearchPage | TextPage) -> None:
        self.rows = page.rows
        self.next_token = page.continuation
        table = self.query_one(FittedTable)
        self.summary = page_summary(page)
        table.set_rows([row_values(row) for row in page.rows])
        self._show_selected()
        if page.rows:
            table.focus()

    def on_fitted_table_refitted(self, event: FittedTable.Refitted) -> None:
        if self.summary is None:
            return
        gone = ", ".join(c.label for c in event.table.hidden_columns)
        note = f" · hidden: {gone} (shown under the table)" if gone else ""
        self.status.update(f"{self.summary}{note}")

    def selected(self) -> dict[str, Any] | None:
        index = self.query_one(FittedTable).cursor_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    def _show_selected(self) -> None:
        self.query_one("#strip", Facts).show(strip_pairs(self.selected()))

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        index = event.cursor_row
        if 0 <= index < len(self.rows):
            self.app.push_screen(DetailScreen(str(self.rows[index]["message_id"])))

    def action_export(self) -> None:
        """Export the searched participant, or the selected row's conversation."""
        from tui.screens.export import ExportScreen, scope_choices

        try:
            start = parse_time(self._value("start") or "", end=False)
            end = parse_time(self._value("end") or "", end=True)
        except AdminError as exc:
            self.status.show_error(exc)
            return
        choices = scope_choices(self._value("participant"), self.selected(),
                                start.date() if start else None, end.date() if end else None)
        self.app.push_screen(ExportScreen(choices))
