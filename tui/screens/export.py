"""Export from the Search screen: the search's participant, or the selected row's
conversation, with formats, time zone and output path; progress while it runs (a thread
worker); the final path and the manifest's SHA-256 when it is done.

The export itself is admin.export.run_export, the same audited run as the CLI's.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, ProgressBar, Select, Static

from admin.connection import AdminError
from admin.export import ExportOptions, ExportProgress, ExportResult, run_export
from admin.text import printable
from archive.export.bundle import FORMATS
from archive.scope import Scope, ScopeError
from tui.screens.base import AdminModal, safe_markup


def scope_choices(participant: str | None, row: dict[str, Any] | None,
                  start: date | None, end: date | None) -> list[tuple[str, Scope]]:
    """What the search offers to export: its participant, the selected conversation."""
    choices: list[tuple[str, Scope]] = []
    try:
        if participant:
            choices.append((f"participant {participant}",
                            Scope(participant=participant, start=start, end=end)))
        if row and row.get("business_id") and row.get("customer_id"):
            business, customer = str(row["business_id"]), str(row["customer_id"])
            choices.append((f"conversation {business} / {customer}",
                            Scope(business_id=business, customer_id=customer,
                                  start=start, end=end)))
    except ScopeError:
        pass
    return choices


class ExportScreen(AdminModal[ExportResult | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen .dialog { width: 76; }
    ExportScreen Horizontal { height: auto; }
    ExportScreen Checkbox { width: auto; }
    ExportScreen Input, ExportScreen Select { margin: 0 0 1 0; }
    """

    def __init__(self, choices: list[tuple[str, Scope]], default_out: str = "export") -> None:
        super().__init__()
        self.choices = choices
        self.default_out = default_out
        self.result: ExportResult | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]Export[/]  (Esc closes)")
            if self.choices:
                yield Select([(Text(printable(label)), index)
                              for index, (label, _) in enumerate(self.choices)],
                             value=0, allow_blank=False, id="scope")
            else:
                yield Static("Nothing to export yet: search by participant, or select a "
                             "row (its conversation).", id="scope")
            with Horizontal():
                for fmt in FORMATS:
                    yield Checkbox(fmt, value=fmt == "bundle", id=f"fmt-{fmt}",
                                   disabled=fmt == "bundle")
            yield Input(value="UTC", placeholder="time zone, e.g. Europe/London", id="tz")
            yield Input(value=self.default_out, placeholder="folder, or name.zip", id="out")
            yield ProgressBar(total=None, show_eta=True, id="progress")
            yield Static("", id="export-status")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="start", variant="primary")
                yield Button("Close", id="close")

    @property
    def status(self) -> Static:
        return self.query_one("#export-status", Static)

    def options(self) -> ExportOptions:
        if not self.choices:
            raise AdminError("search by participant, or select a row, to choose what to export")
        index = self.query_one("#scope", Select).value
        scope = self.choices[index if isinstance(index, int) else 0][1]
        formats = tuple(f for f in FORMATS if self.query_one(f"#fmt-{f}", Checkbox).value)
        out = self.query_one("#out", Input).value.strip()
        if not out:
            raise AdminError("name the output folder (or .zip)")
        return ExportOptions(out=Path(out).expanduser(), scope=scope,
                             formats=("bundle", *[f for f in formats if f != "bundle"]),
                             tz_name=self.query_one("#tz", Input).value.strip() or "UTC")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "close":
            self.action_close()
        elif event.button.id == "start":
            self.start()

    def start(self) -> None:
        if self.running:
            return
        try:
            options = self.options()
        except AdminError as exc:
            self.status.update(f"[b red]error:[/] {safe_markup(exc)}")
            return
        self.running = True
        self.query_one("#start", Button).disabled = True
        self.status.update("exporting...")
        archive = self.archive

        def progress(p: ExportProgress) -> None:
            self.app.call_from_thread(self.show_progress, p)

        def work() -> None:
            try:
                result = run_export(archive, options, progress=progress)
            except Exception as exc:  # shown on the screen: the app keeps running
                self.app.call_from_thread(self.failed, exc)
                return
            self.app.call_from_thread(self.finished, result)

        self.run_worker(work, thread=True, exclusive=True, group="export")

    def show_progress(self, p: ExportProgress) -> None:
        bar = self.query_one("#progress", ProgressBar)
        if p.phase == "records" and p.events_total:
            bar.update(total=p.events_total, progress=p.events_done)
        elif p.bytes_total:
            bar.update(total=p.bytes_total, progress=min(p.bytes_done, p.bytes_total))
        self.status.update(f"{p.phase}: {p.events_done}/{p.events_total} events, "
                           f"{p.bytes_done // 1024} KiB of media")

    def failed(self, error: BaseException) -> None:
        self.running = False
        self.query_one("#start", Button).disabled = False
        text = str(error) if isinstance(error, AdminError) else f"{type(error).__name__}: {error}"
        self.status.update(f"[b red]export failed:[/] {safe_markup(text)}")

    def finished(self, result: ExportResult) -> None:
        self.running = False
        self.result = result
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=1, progress=1)
        self.status.update(
            f"[b]done:[/] {safe_markup(result.out)}\n"
            f"{result.counts.get('records', 0)} records, {result.counts.get('files', 0)} "
            f"files; manifest sha256 {result.manifest_sha256[:16]}...")

    def action_close(self) -> None:
        if not self.running:
            self.dismiss(self.result)
