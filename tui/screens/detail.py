"""One message: summary, status timeline (provider time), media, evidence, record JSON."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from admin.actions import audited_detail
from admin.detail import MessageDetail
from admin.text import printable_lines
from tui.screens.base import AdminScreen, StatusLine, cells, safe_markup


class DetailScreen(AdminScreen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, message_id: str) -> None:
        super().__init__()
        self.message_id = message_id
        self.detail: MessageDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(f"[b]{safe_markup(self.message_id)}[/]", id="summary")
            timeline: DataTable[Text] = DataTable(id="timeline", cursor_type="row")
            timeline.add_columns("provider time", "status")
            yield timeline
            media: DataTable[Text] = DataTable(id="media", cursor_type="row")
            media.add_columns("media id", "state", "size", "sha256", "tier")
            yield media
            yield Static("", id="record", markup=False)
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "message"
        self.in_background(
            lambda: audited_detail(self.archive, self.message_id),
            self.show,
            self.query_one("#status", StatusLine),
        )

    def show(self, detail: MessageDetail) -> None:
        self.detail = detail
        raw = detail.raw or {}
        self.query_one("#summary", Static).update(
            f"[b]{safe_markup(detail.message_id)}[/]\n"
            f"latest status: {safe_markup(detail.latest_status or '-')}\n"
            f"record: {safe_markup(detail.record_path or '-')}\n"
            f"raw: {safe_markup(raw.get('path', '-'))} sha256 {safe_markup(raw.get('sha256', '-'))}"
        )
        timeline = self.query_one("#timeline", DataTable)
        for item in detail.timeline:
            timeline.add_row(*cells(item["timestamp"], item["status"]))
        media = self.query_one("#media", DataTable)
        for m in detail.media:
            media.add_row(*cells(
                m["media_id"], m["state"], m["size"] or "-",
                str(m["sha256"] or "-")[:16], m["access_tier"] or "-",
            ))
        self.query_one("#record", Static).update(
            printable_lines(json.dumps(detail.record, indent=2, sort_keys=True,
                                       ensure_ascii=False))
        )
        self.query_one("#status", StatusLine).update(
            f"{len(detail.events)} event(s), {len(detail.timeline)} status(es)"
        )

    def action_back(self) -> None:
        self.app.pop_screen()
