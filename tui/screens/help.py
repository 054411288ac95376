"""Help: what each screen shows and its keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tui.screens.base import AdminModal

HELP = """\
[b]wa-archive admin[/]

[b]d[/] dashboard   backlog (ingest depth, oldest message, poison), records today,
              open media gaps, conflicts, unparseable bodies, orchestrations
              by runtime status (24 h); refreshes on an interval
[b]f[/] failures    poison, failed/terminated/canceled orchestrations (30 days),
              every kind of failures-table row; Enter opens, [b]r[/] replays the
              selected one (poison, dead letter: back to ingest; orchestration:
              restart; media gap: refetch), [b]R[/] replays all poison (both ask)
[b]s[/] search      participant / message id / type / from / to / direction;
              Enter in a field searches, Enter on a row opens the message,
              Ctrl+N next page (newest first)
[b]a[/] audit       who did what: every action and view is recorded in `audit`
[b]Ctrl+P[/]        command palette      [b]?[/] this help      [b]q[/] quit

Everything reads the Table index with single-partition range queries.
"""


class HelpScreen(AdminModal[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"), VerticalScroll():
            yield Static(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
