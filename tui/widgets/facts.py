"""Label/value pairs shown whole: the detail strip under a table, a message's summary.

Values are archive data: they go in as Text (never Rich markup) after `printable()`.
A long value (a record path, a 300-character reason) wraps inside its own column, at
spaces or, for an id or path with none, anywhere, so it is read in full beside its
label. The widget wraps the lines itself, so its height is exactly what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Group
from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from admin.text import printable
from tui.columns import ELLIPSIS

INDENT = 1  # cells left and right of the lines (the widget itself has no padding)


class Facts(Widget):
    """Shows label/value pairs; `pairs` keeps the values as shown, for tests and copies."""

    DEFAULT_CSS = "Facts { height: auto; }"

    def __init__(self, hint: str, *, more: str | None = None, id: str | None = None) -> None:
        """`more`: with it, at most 2/5 of the terminal's height, the last line saying
        where the rest is (a strip under a table); without it, every line."""
        super().__init__(id=id)
        self.hint = hint
        self.more = more
        self.pairs: list[tuple[str, str]] = []

    def show(self, pairs: Sequence[tuple[str, object]] | None) -> None:
        self.pairs = [(label, printable(value)) for label, value in pairs or ()]
        self.refresh(layout=True)

    def lines(self, width: int) -> list[Text]:
        """The pairs wrapped to `width` cells: label column, then the value's lines."""
        if not self.pairs:
            return [Text(" " * INDENT + self.hint, style="dim")]
        label_width = max(cell_len(label) for label, _ in self.pairs)
        room = max(1, width - label_width - 1 - 2 * INDENT)
        out: list[Text] = []
        for label, value in self.pairs:
            wrapped = Text(value or "-").wrap(self.app.console, room, overflow="fold")
            for n, line in enumerate(wrapped):
                row = Text(" " * INDENT, no_wrap=True, overflow="crop")
                row.append(label.ljust(label_width) if n == 0 else " " * label_width,
                           style="bold")
                row.append(" ")
                line.rstrip()
                row.append_text(line)
                out.append(row)
        limit = max(3, self.app.size.height * 2 // 5)
        if self.more is not None and len(out) > limit:
            cut = Text(f"{' ' * INDENT}{ELLIPSIS} {self.more}", style="dim")
            out = [*out[: limit - 1], cut]
        return out

    def render(self) -> Group:
        # Already wrapped: each line is shown as it is (a Group of no-wrap lines).
        return Group(*self.lines(self.content_size.width or self.app.size.width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))
