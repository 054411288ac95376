"""Evidence: the daily seals, newest first, and the latest automatic verification.

Each seal row says its day, kind (primary or supplementary), how many blobs it covers
and whether its signature verifies with the configured public key ("unchecked" when
no key can be read: the CLI's `wa-archive verify --public-key` is then the way). The
strip under the table shows the selected seal whole: its root and counts per
container, and the newest verification report's totals.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from admin.connection import AdminError
from admin.evidence import SealRow, latest_verification, public_keys, seal_overview, verifier_for
from tui.columns import Column, elide_end
from tui.screens.base import AdminScreen, StatusLine
from tui.widgets.facts import Facts
from tui.widgets.fitted_table import FittedTable

COLUMNS = (
    Column("seq", "seq", full=True),
    Column("day", "day", full=True),
    Column("kind", "kind", full=True),
    Column("leaves", "blobs", full=True),
    Column("signature", "signature", full=True),
    Column("root", "root", min=12, share=0.3, drop=1),
    Column("problem", "problem", min=8, flex=True, elide=elide_end),
)


def signature_text(row: SealRow) -> str:
    if row.signature_ok is None:
        return "unchecked"
    return "ok" if row.signature_ok else "INVALID"


def report_text(report: dict[str, Any] | None) -> str:
    if report is None:
        return "no verification run yet"
    verdict = "clean" if report.get("ok") else f"{report.get('findings', '?')} finding(s)"
    return (f"{report.get('run', '?')}: {verdict}, {report.get('blobs_checked', 0)} blobs, "
            f"{report.get('bytes_checked', 0)} bytes checked")


def load_evidence(archive: Any) -> tuple[list[SealRow], dict[str, Any] | None, bool]:
    """Seals with their signatures checked when a public key can be read."""
    try:
        verify = verifier_for(public_keys())
        keyed = True
    except AdminError:
        verify, keyed = None, False
    return seal_overview(archive, verify), latest_verification(archive), keyed


class EvidenceScreen(AdminScreen):
    BINDINGS = [Binding("g", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.seals: list[SealRow] = []
        self.report: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield FittedTable(COLUMNS, id="seals")
        yield Facts("no seal selected", more="(cut here)", id="strip")
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("evidence")
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.in_background(
            lambda: load_evidence(self.archive), self.show, self.query_one("#status", StatusLine)
        )

    def show(self, loaded: tuple[list[SealRow], dict[str, Any] | None, bool]) -> None:
        self.seals, self.report, keyed = loaded
        self.query_one(FittedTable).set_rows([
            (str(row.seq), row.day, row.kind, str(row.leaves), signature_text(row),
             row.root or "-", row.problem or "-")
            for row in self.seals
        ])
        self._show_selected()
        note = "" if keyed else " · signatures unchecked: no public key readable"
        self.query_one("#status", StatusLine).update(
            f"{len(self.seals)} seal(s) · last verification {report_text(self.report)}{note}"
        )

    def selected(self) -> SealRow | None:
        index = self.query_one(FittedTable).cursor_row
        return self.seals[index] if 0 <= index < len(self.seals) else None

    def _show_selected(self) -> None:
        row = self.selected()
        if row is None:
            self.query_one("#strip", Facts).show(None)
            return
        counts = ", ".join(f"{name} {count}" for name, count in sorted(row.counts.items()))
        self.query_one("#strip", Facts).show([
            ("seal", row.name), ("root", row.root or "-"), ("counts", counts or "-"),
            ("problem", row.problem or "none"), ("verification", report_text(self.report)),
        ])

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()
