"""One message: summary, status timeline (provider time), media, evidence, record JSON.

Every value here is archive data, so the summary is built as Text (never markup) and
wraps in full: this is the screen where an admin reads whole ids and paths.
"""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from admin.actions import audited_detail
from admin.detail import MessageDetail
from admin.text import printable_lines
from tui.columns import Column, elide_end, elide_path, utc_time
from tui.screens.base import AdminScreen, StatusLine
from tui.widgets.facts import Facts
from tui.widgets.fitted_table import FittedTable

TIMELINE = (
    Column("time", "provider time (UTC)", full=True),
    Column("status", "status", full=True),
    Column("record", "record", min=12, flex=True, drop=1, elide=elide_path),
)
MEDIA = (
    Column("state", "state", full=True),
    Column("media_id", "media id", min=12, share=0.25),
    Column("size", "size", min=6),
    Column("tier", "tier", min=4, drop=2),
    Column("sha256", "sha256", min=12, drop=1),
    Column("reason", "reason", min=12, flex=True, elide=elide_end),
)


def _content(record: dict[str, Any]) -> str | None:
    content = record.get("content") or {}
    for key in ("text", "caption", "emoji", "body"):
        value = content.get(key) if isinstance(content, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


def summary_pairs(message_id: str, detail: MessageDetail | None) -> list[tuple[str, object]]:
    """The message's facts, label then value (values fold, never cut)."""
    if detail is None:
        return [("message", message_id)]
    record = detail.record or {}
    conversation = record.get("conversation") or {}
    raw = detail.raw or {}
    return [
        ("message", message_id),
        ("event", " ".join(str(record.get(k) or "") for k in
                           ("event", "direction", "type")).strip() or "-"),
        ("time", utc_time(record.get("timestamp"))),
        ("from → to", f"{record.get('from') or '-'} → {record.get('to') or '-'}"),
        ("conversation", conversation.get("key") or "-"),
        ("text", _content(record) or "-"),
        ("latest status", detail.latest_status or "-"),
        ("record", detail.record_path or "-"),
        ("raw", raw.get("path", "-")),
        ("raw sha256", raw.get("sha256", "-")),
    ]


class DetailScreen(AdminScreen):
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, message_id: str) -> None:
        super().__init__()
        self.message_id = message_id
        self.detail: MessageDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Facts("loading...", id="summary")
            yield FittedTable(TIMELINE, id="timeline")
            yield FittedTable(MEDIA, id="media")
            yield Static("", id="record", markup=False)
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("message")
        self.query_one("#summary", Facts).show(summary_pairs(self.message_id, None))
        self.in_background(
            lambda: audited_detail(self.archive, self.message_id),
            self.show,
            self.query_one("#status", StatusLine),
        )

    def show(self, detail: MessageDetail) -> None:
        self.detail = detail
        self.query_one("#summary", Facts).show(summary_pairs(detail.message_id, detail))
        timeline = self.query_one("#timeline", FittedTable)
        timeline.display = bool(detail.timeline)  # no statuses: no empty table
        timeline.set_rows([
            (utc_time(item.get("timestamp")), item.get("status") or "-",
             item.get("record_path") or "-")
            for item in detail.timeline
        ])
        media = self.query_one("#media", FittedTable)
        media.display = bool(detail.media)
        media.set_rows([
            (m.get("state") or "-", m.get("media_id") or "-", m.get("size") or "-",
             m.get("access_tier") or "-", m.get("sha256") or "-", m.get("reason") or "")
            for m in detail.media
        ])
        self.query_one("#record", Static).update(
            printable_lines(json.dumps(detail.record, indent=2, sort_keys=True,
                                       ensure_ascii=False))
        )
        self.query_one("#status", StatusLine).update(
            f"{len(detail.events)} event(s), {len(detail.timeline)} status(es)"
        )

    def action_back(self) -> None:
        self.app.pop_screen()
