"""Help: what each screen shows and its keys (a key column, descriptions that wrap)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tui.screens.base import AdminModal
from tui.widgets.facts import Facts

HELP: tuple[tuple[str, str], ...] = (
    ("d dashboard", "backlog (ingest depth, oldest message, poison), records today, open "
                    "failures by kind, orchestrations by runtime status (24 h); refreshes "
                    "on an interval"),
    ("f failures", "poison, failed/terminated/canceled orchestrations (30 days), every kind "
                   "of failures-table row; the selected one's whole reference and reason "
                   "below the table. Enter opens it, r replays it (poison, dead letter: back "
                   "to ingest; orchestration: restart; media gap: refetch), R replays all "
                   "poison (both ask)"),
    ("s search", "participant / message id / type / from / to / direction; Enter in a "
                 "field searches, Enter on a row opens the message, Ctrl+N next page "
                 "(newest first). Columns that do not fit drop off (status, then to); the "
                 "selected row is shown whole below the table"),
    ("a audit", "who did what: every action and view is recorded in `audit`"),
    ("Ctrl+P", "command palette (every screen)"),
    ("?  q", "this help, quit"),
    ("", "Long values are elided in the middle (…); widen the terminal to see more. "
         "Everything reads the Table index with single-partition range queries."),
)


class HelpScreen(AdminModal[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"), VerticalScroll():
            yield Static("[b]wa-archive admin[/]  (Esc closes)")
            facts = Facts("", id="keys")
            facts.show(HELP)
            yield facts

    def action_close(self) -> None:
        self.dismiss(None)
