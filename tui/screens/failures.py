"""Failures: poison messages and failures-table rows; open a payload; replay after confirm."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from admin.actions import audited_payload, audited_replay, find_poison
from admin.failures import Failure, failures
from admin.replay import ReplayResult
from tui.screens.base import AdminScreen, StatusLine, cells
from tui.screens.dialogs import ConfirmScreen, TextScreen


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
        table: DataTable[Text] = DataTable(id="failures", cursor_type="row")
        table.add_columns("kind", "day", "reference", "reason")
        yield table
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "failures"
        self.action_reload()

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def action_reload(self) -> None:
        self.in_background(lambda: failures(self.archive), self.show, self.status)

    def show(self, items: list[Failure]) -> None:
        self.items = items
        table = self.query_one(DataTable)
        table.clear()
        for item in items:
            table.add_row(*cells(item.kind, item.day, item.ref[-40:], item.reason[:60]))
        self.status.update(f"{len(items)} failure(s); Enter opens, r replays a poison message")

    def selected(self) -> Failure | None:
        table = self.query_one(DataTable)
        if not self.items or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        item = self.selected()
        if item is None:
            return
        if item.kind != "poison":
            text = json.dumps(item.to_json(), indent=2, sort_keys=True, ensure_ascii=False)
            self.app.push_screen(TextScreen(f"{item.kind} {item.day}", text))
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
        if item is None or item.kind != "poison":
            self.status.update("select a poison message to replay")
            return
        self._confirm_then(f"Replay poison message {item.ref} to ingest?", [item.ref], False)

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

            self.in_background(
                lambda: audited_replay(
                    self.archive, ids=ids, all_poison=all_poison, progress=progress
                ),
                self.replayed,
                self.status,
            )

        self.app.push_screen(ConfirmScreen(question), answered)

    def replayed(self, result: ReplayResult) -> None:
        self.notify(f"replayed {len(result.replayed)} message(s) to ingest")
        self.action_reload()
