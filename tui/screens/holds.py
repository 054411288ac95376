"""Holds: legal-hold matters, their scope and state; place one (p) or release one (r).

Both actions ask for confirmation and run the same admin functions as
`wa-archive hold place|release` (audited, intent first), in a worker with progress on
the status line. The settling wait (the pipeline's hold caches) runs there too; leaving
the screen does not stop it, and an interrupted job is finished by `hold resume`.
"""

from __future__ import annotations

from datetime import timedelta

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Header, Input, Static

from admin.holds import (
    SETTLE,
    HoldProgress,
    HoldRow,
    hold_json,
    list_holds,
    place_hold,
    release_hold,
)
from archive.holds import validate_matter_id, validate_reason
from archive.scope import scope_from_args
from tui.columns import Column, elide_end
from tui.screens.base import AdminModal, AdminScreen, StatusLine
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.facts import Facts
from tui.widgets.fitted_table import FittedTable

COLUMNS = (
    Column("matter", "matter", min=8, share=0.25),
    Column("state", "state", full=True),
    Column("kind", "scope", full=True),
    Column("placed", "placed", full=True),
    Column("records", "records", full=True, drop=2),
    Column("reason", "reason", min=8, flex=True, elide=elide_end, drop=1),
)

FIELDS = (
    ("matter", "matter id (e.g. case number)"),
    ("reason", "reason"),
    ("participant", "participant (or business + customer, or message id)"),
    ("business", "business id"),
    ("customer", "customer id"),
    ("message_id", "message id"),
    ("start", "from YYYY-MM-DD (optional)"),
    ("end", "to YYYY-MM-DD (optional)"),
)


class PlaceHoldScreen(AdminModal[dict[str, str] | None]):
    """The place form; answers the field values, or None when cancelled."""

    DEFAULT_CSS = """
    PlaceHoldScreen { align: center middle; }
    PlaceHoldScreen Input { height: 1; border: none; padding: 0 1; margin: 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]Place a legal hold[/]")
            for name, placeholder in FIELDS:
                yield Input(placeholder=placeholder, id=f"hold-{name}")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Place", id="place", variant="error")
                yield Button("Cancel", id="cancel", variant="primary")

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#hold-{name}", Input).value.strip()
                for name, _ in FIELDS}

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "place":
            self.dismiss(None)
            return
        self._submit()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._submit()  # Enter in any field places, as on a form; 80x24 hides the buttons

    def _submit(self) -> None:
        values = self.values()
        try:  # refuse here what place would refuse, so the form can be corrected
            validate_matter_id(values["matter"])
            validate_reason(values["reason"])
            scope_from_args(participant=values["participant"], business=values["business"],
                            customer=values["customer"], message_id=values["message_id"],
                            start=values["start"], end=values["end"])
        except ValueError as exc:
            self.query_one("#form-error", Static).update(f"[b red]{exc}[/]")
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HoldsScreen(AdminScreen):
    BINDINGS = [Binding("p", "place", "Place"), Binding("r", "release", "Release"),
                Binding("g", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[HoldRow] = []

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def settle(self) -> timedelta:
        # Tests and screenshots set `hold_settle` on the app; people get the real wait.
        value = getattr(self.app, "hold_settle", SETTLE)
        return value if isinstance(value, timedelta) else SETTLE

    def compose(self) -> ComposeResult:
        yield Header()
        yield FittedTable(COLUMNS, id="holds")
        yield Facts("no matter selected", more="(cut here)", id="strip")
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("holds")
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.in_background(lambda: list_holds(self.archive), self.show, self.status)

    def show(self, rows: list[HoldRow]) -> None:
        self.rows = rows
        self.query_one(FittedTable).set_rows([
            (r.matter.matter_id, r.matter.state, r.matter.scope.kind,
             r.matter.placed_at.strftime("%Y-%m-%d %H:%M"), str(r.progress.records_done),
             r.matter.reason)
            for r in rows
        ])
        self._show_selected()
        in_force = sum(1 for r in rows if r.matter.in_force)
        self.status.update(f"{len(rows)} matter(s), {in_force} in force · p place · r release")

    def selected(self) -> HoldRow | None:
        index = self.query_one(FittedTable).cursor_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    def _show_selected(self) -> None:
        row = self.selected()
        if row is None:
            self.query_one("#strip", Facts).show(None)
            return
        data = hold_json(row)
        released = (f"{data['released_at']} by {data['released_by']}"
                    if data["released_at"] else "-")
        p = row.progress
        self.query_one("#strip", Facts).show([
            ("matter", data["matter"]), ("scope", data["scope_text"]),
            ("reason", data["reason"]), ("placed", f"{data['placed_at']} by {data['placed_by']}"),
            ("released", released),
            ("last pass", f"{p.records_done} records, {p.blobs_held} held, "
                          f"{p.blobs_released} released, {p.blobs_kept} kept"),
        ])

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def _progress(self, progress: HoldProgress, what: str) -> None:
        self.app.call_from_thread(
            self.status.update,
            f"{what}: {progress.records_done} records, {progress.blobs_held} held, "
            f"{progress.blobs_released} released, {progress.blobs_kept} kept",
        )

    def _done(self, row: HoldRow) -> None:
        self.notify(f"matter {row.matter.matter_id}: {row.matter.state}")
        self.action_reload()

    def action_place(self) -> None:
        def filled(values: dict[str, str] | None) -> None:
            if not values:
                self.status.update("place cancelled")
                return
            scope = scope_from_args(
                participant=values["participant"], business=values["business"],
                customer=values["customer"], message_id=values["message_id"],
                start=values["start"], end=values["end"])
            question = (f"Place legal hold {values['matter']} on {scope.describe()}? "
                        "Every record, media item and raw body in scope will be held.")

            def answered(yes: bool | None) -> None:
                if not yes:
                    self.status.update("place cancelled")
                    return
                self.status.update("placing...")
                self.in_background(lambda: place_hold(
                    self.archive, values["matter"], scope, values["reason"],
                    progress=self._progress, settle=self.settle(),
                ), self._done, self.status)

            self.app.push_screen(ConfirmScreen(question), answered)

        self.app.push_screen(PlaceHoldScreen(), filled)

    def action_release(self) -> None:
        row = self.selected()
        if row is None or not row.matter.in_force:
            self.status.update("select a matter in force to release")
            return
        matter_id = row.matter.matter_id
        question = (f"Release legal hold {matter_id} ({row.matter.scope.describe()})? "
                    "Blobs no other matter covers lose their legal hold.")

        def answered(yes: bool | None) -> None:
            if not yes:
                self.status.update("release cancelled")
                return
            self.status.update("releasing...")
            self.in_background(lambda: release_hold(
                self.archive, matter_id, progress=self._progress, settle=self.settle(),
            ), self._done, self.status)

        self.app.push_screen(ConfirmScreen(question), answered)
