"""Review: lexicon flags to decide (issue 16), as `wa-archive review list|show|mark`.

The table lists flags of the last 30 days by status (open first; o cycles the filter).
Enter opens one in its conversation: the 5 messages before and after it, the flagged
one marked and its matched words highlighted, and its decisions. r, x and p mark the
selected flag reviewed, escalated or false-positive after asking for a comment; the
same admin functions as the CLI run in workers (audited, the decision a create-only
blob), and the list reloads. Message text and comments are shown as text, never as
Rich markup, and are never logged.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Footer, Header, Input, Static

from admin.review import FlagListing, FlagSummary, list_flags, mark, show_flag
from admin.text import printable, printable_lines
from archive.flags import FLAG_OPEN, MAX_COMMENT_CHARS
from tui.columns import Column, elide_end
from tui.screens.base import AdminModal, AdminScreen, StatusLine, safe_markup
from tui.widgets.facts import Facts
from tui.widgets.fitted_table import FittedTable

FILTERS = (FLAG_OPEN, "escalated", "reviewed", "false-positive", "all")
MARKS = {"r": "reviewed", "x": "escalated", "p": "false-positive"}
COLUMNS = (
    Column("when", "when (UTC)", full=True),
    Column("status", "status", full=True),
    Column("direction", "dir", full=True, drop=2),
    Column("rules", "rules", min=8, share=0.3),
    Column("matched", "matched", min=8, flex=True, elide=elide_end, drop=1),
)


def matched_words(hits: Any) -> list[str]:
    return [str(w) for hit in hits or () if isinstance(hit, dict)
            for w in hit.get("matched") or ()]


def _when(value: object) -> str:
    return printable(value).replace("T", " ")[:16]


def context_text(flag: dict[str, Any]) -> Text:
    """The conversation around the flag: the flagged message marked, its words lit."""
    out = Text()
    words = matched_words(flag.get("hits"))
    for message in flag.get("context") or ():
        flagged = bool(message.get("flagged"))
        head = (f"{'▶' if flagged else ' '} {_when(message.get('timestamp'))}  "
                f"{printable(message.get('direction'))}  {printable(message.get('from'))} → "
                f"{printable(message.get('to'))}  [{printable(message.get('type'))}]\n")
        out.append(head, style="bold reverse" if flagged else "dim")
        text = message.get("text")
        body = Text(printable_lines("(record unreadable)" if text is None
                                    else text or "(no text)"))
        if flagged:
            for word in words:
                body.highlight_words([word], style="bold yellow underline",
                                     case_sensitive=False)
        body.pad_left(4)
        out.append_text(body)
        out.append("\n\n")
    return out


def decisions_text(flag: dict[str, Any]) -> Text:
    decisions = flag.get("decisions") or []
    if not decisions:
        return Text("no decisions yet", style="dim")
    return Text("\n".join(
        f"{printable(d.get('stored_at') or d.get('decided_at'))}  {printable(d.get('status'))}"
        f"  {printable(d.get('reviewer'))}: {printable(d.get('comment'))}" for d in decisions))


# The three decisions, on the same keys in the list and in a flag's view.
MARK_BINDINGS = [Binding("r", "mark('r')", "Reviewed"), Binding("x", "mark('x')", "Escalate"),
                 Binding("p", "mark('p')", "False positive")]


class CommentScreen(AdminModal[str | None]):
    """Asks for the decision's comment; answers it, or None when cancelled."""

    DEFAULT_CSS = """
    CommentScreen { align: center middle; }
    CommentScreen Input { height: 1; border: none; padding: 0 1; margin: 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, flag_id: str, status: str) -> None:
        super().__init__()
        self.flag_id = flag_id
        self.status = status

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"[b]Mark {safe_markup(self.flag_id)} {safe_markup(self.status)}[/]")
            yield Input(placeholder="comment (why; kept in the decision)", id="comment",
                        max_length=MAX_COMMENT_CHARS)
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Mark", id="mark", variant="warning")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "mark":
            self._submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._submit()

    def _submit(self) -> None:
        comment = self.query_one("#comment", Input).value
        if not comment.strip():
            self.query_one("#form-error", Static).update("[b red]a decision needs a comment[/]")
            return
        self.dismiss(comment)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Marking:
    """r / x / p on a screen that knows its selected flag: comment, then mark in a worker."""

    def mark_flag(self: Any, flag_id: str | None, status: str) -> None:
        if flag_id is None:
            self.status.update("select a flag first")
            return

        def commented(comment: str | None) -> None:
            if comment is None:
                self.status.update("mark cancelled")
                return
            self.status.update("marking...")
            self.in_background(lambda: mark(self.archive, flag_id, status, comment),
                               self.marked, self.status)

        self.asking = True  # back from the dialog is no reason to list (and audit) again
        self.app.push_screen(CommentScreen(flag_id, status), commented)

    def action_mark(self: Any, key: str) -> None:
        self.mark_flag(self.selected_id(), MARKS[key])


class FlagScreen(Marking, AdminScreen):
    BINDINGS = [Binding("escape", "back", "Back"), *MARK_BINDINGS]

    def __init__(self, flag_id: str) -> None:
        super().__init__()
        self.flag_id = flag_id
        self.flag: dict[str, Any] | None = None
        self.asking = False

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Facts("loading...", id="summary")
            yield Static("", id="context", markup=False)
            yield Static("", id="decisions", markup=False)
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("flag")
        self.load()

    def load(self) -> None:
        self.in_background(lambda: show_flag(self.archive, self.flag_id), self.show,
                           self.status)

    def show(self, flag: dict[str, Any]) -> None:
        self.flag = flag
        self.query_one("#summary", Facts).show([
            ("flag", flag["id"]), ("status", flag["status"]),
            ("rules", ", ".join(map(str, flag.get("rules") or ()))),
            ("matched", ", ".join(matched_words(flag.get("hits")))),
            ("policy", f"v{flag.get('policy_version')}"),
        ])
        self.query_one("#context", Static).update(context_text(flag))
        self.query_one("#decisions", Static).update(decisions_text(flag))
        self.status.update(f"{flag['status']} · r reviewed · x escalate · p false positive")

    def selected_id(self) -> str | None:
        return self.flag_id

    def marked(self, done: dict[str, Any]) -> None:
        self.notify(f"{done['id']}: {done['status']}")
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()


class ReviewScreen(Marking, AdminScreen):
    BINDINGS = [Binding("enter", "open", "Open"), *MARK_BINDINGS,
                Binding("o", "next_filter", "Status filter"), Binding("g", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.filter = FLAG_OPEN
        self.flags: list[FlagSummary] = []
        self.asking = False

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def compose(self) -> ComposeResult:
        yield Header()
        yield FittedTable(COLUMNS, id="flags")
        yield Facts("no flag selected", more="(Enter opens it)", id="strip")
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("review")
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.asking:
            self.asking = False
            return
        self.action_reload()

    def action_reload(self) -> None:
        self.status.update("loading...")
        status, now = self.filter, self.now()
        self.in_background(lambda: list_flags(self.archive, status, now=now), self.show,
                           self.status)

    def action_next_filter(self) -> None:
        self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        self.action_reload()

    def show(self, listing: FlagListing) -> None:
        self.flags = listing.flags
        self.query_one(FittedTable).set_rows([
            (_when(f.row.get("timestamp")), f.status, f.row.get("direction"),
             ", ".join(map(str, f.row.get("rules") or ())),
             ", ".join(matched_words(f.row.get("hits"))))
            for f in listing.flags
        ])
        self._show_selected()
        more = " (more: narrow with the CLI)" if listing.truncated else ""
        odd = (f" · {listing.ignored_decisions} invalid decision blob(s) ignored"
               if listing.ignored_decisions else "")
        self.status.update(f"{len(listing.flags)} {self.filter} flag(s), last "
                           f"{len(listing.days)} days{more}{odd} · o filter · Enter open")

    def selected(self) -> FlagSummary | None:
        index = self.query_one(FittedTable).cursor_row
        return self.flags[index] if 0 <= index < len(self.flags) else None

    def selected_id(self) -> str | None:
        flag = self.selected()
        return flag.id if flag else None

    def _show_selected(self) -> None:
        flag = self.selected()
        if flag is None:
            self.query_one("#strip", Facts).show(None)
            return
        row = flag.row
        self.query_one("#strip", Facts).show([
            ("flag", flag.id), ("status", flag.status),
            ("matched", ", ".join(matched_words(row.get("hits")))),
            ("message", f"{row.get('direction')} {row.get('from')} → {row.get('to')}"),
            ("decisions", str(len(flag.decisions))),
        ])

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        flag_id = self.selected_id()
        if flag_id is None:
            self.status.update("no flag selected")
            return
        self.app.push_screen(FlagScreen(flag_id))

    def marked(self, done: dict[str, Any]) -> None:
        self.notify(f"{done['id']}: {done['status']}")
        self.action_reload()
