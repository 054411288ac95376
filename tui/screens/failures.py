"""Failures: poison messages, unsuccessful orchestrations (Failed, Terminated, Canceled;
last 30 days) and every kind of failures-table row; replay after confirm.

Replay depends on the kind: a poison message or a dead letter goes back to `ingest`,
an orchestration is restarted with its original input, a media gap gets a refetch.
Ids and reasons come from providers, so they are shown as text, never as markup.
"""

from __future__ import annotations

import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from admin.actions import audited_payload, audited_replay, find_poison
from admin.durable_api import DurableApiError
from admin.failures import Failure, failures, orchestration_failures
from admin.replay import ReplayResult
from tui.columns import Column, elide_end, elide_path
from tui.screens.base import AdminScreen, StatusLine, safe_markup
from tui.screens.dialogs import ConfirmScreen, TextScreen
from tui.widgets.facts import Facts
from tui.widgets.fitted_table import FittedTable

# Kind and day always show whole; the reason takes what the reference leaves. The
# selected row's whole reference and reason are in the strip below the table.
COLUMNS = (
    Column("kind", "kind", full=True),
    Column("day", "day", full=True),
    Column("ref", "reference", min=12, share=0.22, elide=elide_path),
    Column("reason", "reason", min=16, flex=True, elide=elide_end),
)


def strip_pairs(item: Failure | None) -> list[tuple[str, object]] | None:
    """The selected failure whole (its values are provider data: Facts shows them as text)."""
    if item is None:
        return None
    return [("reference", item.ref), ("reason", item.reason or "-")]


class FailuresScreen(AdminScreen):
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("r", "replay", "Replay"),
        Binding("R", "replay_all", "Replay all poison"),
        Binding("g", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Failure] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield FittedTable(COLUMNS, id="failures")
        yield Facts("no failure selected", more="Enter opens the whole entry", id="strip")
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("failures")
        self.action_reload()

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def action_reload(self) -> None:
        durable, now = self.durable, self.now()

        def load() -> tuple[list[Failure], str | None]:
            found = failures(self.archive)
            if durable is None:
                return found, "orchestrations: Durable API not configured"
            try:
                return orchestration_failures(durable, now=now) + found, None
            except DurableApiError as exc:
                return found, f"orchestrations: {exc}"

        self.in_background(load, self.show, self.status)

    def show(self, loaded: tuple[list[Failure], str | None]) -> None:
        items, note = loaded
        self.items = items
        table = self.query_one(FittedTable)
        table.set_rows([(item.label, item.day or "-", item.ref, item.reason) for item in items])
        self._show_selected()
        summary = f"{len(items)} failure(s); Enter opens, r replays"
        self.status.update(safe_markup(f"{summary}; {note}" if note else summary))

    def selected(self) -> Failure | None:
        table = self.query_one(FittedTable)
        if not self.items or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def _show_selected(self) -> None:
        self.query_one("#strip", Facts).show(strip_pairs(self.selected()))

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        item = self.selected()
        if item is None:
            return
        if item.kind != "poison":
            text = json.dumps(item.to_json(), indent=2, sort_keys=True, ensure_ascii=False)
            self.app.push_screen(TextScreen(f"{item.label} {item.day}", text))
            return

        def load() -> str:
            message = find_poison(self.archive, item.ref)
            if message is None:
                return "(no longer in ingest-poison)"
            return audited_payload(self.archive, message)

        def opened(text: str) -> None:
            self.app.push_screen(TextScreen("raw payload", text))

        self.in_background(load, opened, self.status)

    def action_replay(self) -> None:
        item = self.selected()
        if item is None or not item.replayable:
            self.status.update(
                "select a poison message, orchestration, media gap or dead letter"
            )
            return
        question = {
            "poison": f"Replay poison message {item.ref} to ingest?",
            "orchestration": f"Restart orchestration {item.ref} with its original input?",
            "deadletter": f"Copy dead letter {item.ref} back to ingest?",
        }.get(item.kind, f"Fetch the missing media of {item.ref} again?")
        # ConfirmScreen shows this as plain text: ref and reason are provider data.
        self._confirm_then(f"{question} (reason: {item.reason})", [item.id], False)

    def action_replay_all(self) -> None:
        self._confirm_then("Replay EVERY poison message to ingest?", None, True)

    def _confirm_then(self, question: str, ids: list[str] | None, all_poison: bool) -> None:
        def answered(yes: bool | None) -> None:
            if not yes:
                self.status.update("replay cancelled")
                return
            self.status.update("replaying...")

            def progress(done: int, total: int | None) -> None:
                self.app.call_from_thread(
                    self.status.update, f"replayed {done}/{total if total is not None else '?'}"
                )

            durable = self.durable
            self.in_background(
                lambda: audited_replay(
                    self.archive, ids=ids, all_poison=all_poison, progress=progress,
                    durable=durable,
                ),
                self.replayed,
                self.status,
            )

        self.app.push_screen(ConfirmScreen(question), answered)

    def replayed(self, result: ReplayResult) -> None:
        self.notify(f"replayed {result.done} item(s)")
        self.action_reload()
