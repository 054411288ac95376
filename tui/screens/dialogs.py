"""Small modal dialogs: confirm, and a scrollable text viewer.

Both show their text as text: a question or payload carries provider-controlled ids
and reasons, and Rich markup in them must neither style nor break the dialog.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from admin.text import printable, printable_lines
from tui.screens.base import AdminModal, safe_markup


class ConfirmScreen(AdminModal[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(printable(self.question)), id="question")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TextScreen(AdminModal[None]):
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.heading = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(f"[b]{safe_markup(self.heading)}[/]  (Esc closes)")
            with VerticalScroll():
                # markup=False: payloads are data, never Rich markup.
                yield Static(printable_lines(self.text), id="text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
