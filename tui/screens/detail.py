"""One message: summary, status timeline (provider time), media, evidence, record JSON.

A call id shows the call's timeline instead: every call event with its status, times,
duration and errors (issue #19).

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
CALL_TIMELINE = (
    Column("time", "provider time (UTC)", full=True),
    Column("event", "call event", full=True),
    Column("status", "status", min=9),
    Column("start", "start (UTC)", min=8, drop=2),
    Column("end", "end (UTC)", min=8, drop=2),
    Column("duration", "duration", min=8, drop=3),
    Column("errors", "errors", min=8, flex=True, drop=1, elide=elide_end),
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
    # An interactive reply says what was chosen, e.g. "Call permission accepted (...)".
    reply = content.get("interactive") if isinstance(content, dict) else None
    title = reply.get("title") if isinstance(reply, dict) else None
    return title if isinstance(title, str) and title else None


def _errors(errors: object) -> str:
    """Error codes and titles of a call event, in one cell."""
    found = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    return "; ".join(" ".join(str(e.get(k)) for k in ("code", "title") if e.get(k) is not None)
                     for e in found)


def call_rows(detail: MessageDetail) -> list[tuple[object, ...]]:
    """The call timeline as table cells (provider time order, as admin.detail gives it)."""
    return [
        (utc_time(c.get("timestamp")), c.get("event") or "-", c.get("status") or "-",
         utc_time(c.get("start_time")), utc_time(c.get("end_time")),
         "-" if c.get("duration") is None else f"{c['duration']} s",
         _errors(c.get("errors")) or "-")
        for c in detail.call_timeline
    ]


def summary_pairs(message_id: str, detail: MessageDetail | None) -> list[tuple[str, object]]:
    """The message's facts, label then value (values fold, never cut)."""
    if detail is None:
        return [("message", message_id)]
    record = detail.record or {}
    conversation = record.get("conversation") or {}
    raw = detail.raw or {}
    if detail.call_timeline:
        last = detail.call_timeline[-1]
        durations = [c["duration"] for c in detail.call_timeline if c.get("duration") is not None]
        return [
            ("call", message_id),
            ("direction", f"{last.get('direction') or '-'} ({record.get('direction') or '-'})"),
            ("from → to", f"{record.get('from') or '-'} → {record.get('to') or '-'}"),
            ("conversation", conversation.get("key") or "-"),
            ("latest state", detail.latest_status or "-"),
            ("duration", f"{durations[-1]} s" if durations else "-"),
            ("first record", detail.record_path or "-"),
            ("raw", raw.get("path", "-")),
        ]
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
            yield FittedTable(CALL_TIMELINE, id="calls")
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
        calls = self.query_one("#calls", FittedTable)
        calls.display = bool(detail.call_timeline)  # a message: no call table
        calls.set_rows(call_rows(detail))
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
        counted = f"{len(detail.events)} event(s), {len(detail.timeline)} status(es)"
        if detail.call_timeline:
            counted = f"{len(detail.call_timeline)} call event(s)"
            self.heading("call")
        self.query_one("#status", StatusLine).update(counted)

    def action_back(self) -> None:
        self.app.pop_screen()
