"""Fitting table columns to the terminal: which columns show, how wide, how values elide.

Pure functions (no Textual, no I/O), so the rules are unit-tested on their own:
- a `full` column (kind, day, time, event, direction) always shows its whole value;
- other columns are elided in the middle, so an id keeps its start and its end, and a
  record path keeps its start and its message id (`elide_path`);
- the `flex` column (a reason, a message id) takes the width that remains;
- when even the narrowest widths do not fit, droppable columns go, lowest `drop` first.
Widths are terminal cells, not characters: emoji and CJK take two cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, get_character_cell_size

ELLIPSIS = "…"
GAP = 1  # blank cells between two columns


def _head(text: str, width: int) -> str:
    """The longest start of `text` that fits in `width` cells."""
    used = 0
    for end, char in enumerate(text):
        size = get_character_cell_size(char)
        if used + size > width:
            return text[:end]
        used += size
    return text


def _tail(text: str, width: int) -> str:
    """The longest end of `text` that fits in `width` cells."""
    return _head(text[::-1], width)[::-1]


def elide_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells: its start, an ellipsis, its end."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    keep = width - 1
    tail = _tail(text, keep // 2)
    head = _head(text, keep - cell_len(tail))
    return f"{head}{ELLIPSIS}{tail}"


def elide_end(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut at the end (a reason reads from its start)."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    return _head(text, width - 1) + ELLIPSIS


def elide_path(text: str, width: int) -> str:
    """A `/` path in `width` cells: its first segment, then its end.

    A record path is `year=/month=/day=/provider/conversation/<message id>/<file>`:
    the whole segments in the middle go first (`year=2025/…/wamid.X/0175…json`), then
    the file name, then the message id is elided in its middle, so the start and the
    message id stay readable while there is room. A shorter path (a raw body's) keeps
    its first segment and its elided last one.
    """
    if cell_len(text) <= width:
        return text
    parts = text.split("/")
    if len(parts) < 3:
        return elide_middle(text, width)
    first = f"{parts[0]}/{ELLIPSIS}/"
    if len(parts) >= 6:  # a record path: the message id is the segment before the file
        message, last = parts[-2], parts[-1]
        room = width - cell_len(first) - cell_len(message) - 1
        if room >= min(8, cell_len(last)):
            return f"{first}{message}/{elide_middle(last, room)}"
        room = width - cell_len(first) - 2
        if room >= 10:
            return f"{first}{elide_middle(message, room)}/{ELLIPSIS}"
    room = width - cell_len(first)
    if room >= 10:
        return first + elide_middle(parts[-1], room)
    return elide_middle(text, width)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    full: bool = False  # always shown whole: never elided, never dropped
    min: int = 8  # the narrowest an elided value is still worth showing
    share: float = 0.0  # a part of the table's width it may grow to, before the flex one
    flex: bool = False  # takes the width that remains
    drop: int | None = None  # dropped when too narrow, lowest first; None: never
    elide: Callable[[str, int], str] = elide_middle


@dataclass(frozen=True)
class Fitted:
    column: Column
    width: int  # content cells (the gap after it is not included)


def _natural(column: Column, values: Sequence[str]) -> int:
    return max([cell_len(column.label), *(cell_len(v) for v in values)])


def fit_columns(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
) -> list[Fitted]:
    """The columns to show, in their order, and each one's width, to fit `width` cells.

    `rows` are the cell texts in the order of `columns`. Full columns take their
    natural width; the others start at `min` (or less, when their values are shorter),
    grow to their `share` of `width`, and the flex column gets what is left.
    """
    natural = {c.key: _natural(c, [row[i] for row in rows]) for i, c in enumerate(columns)}

    def narrowest(c: Column) -> int:
        return natural[c.key] if c.full else min(natural[c.key], c.min)

    shown = list(columns)

    def used(widths: dict[str, int]) -> int:
        return sum(widths[c.key] for c in shown) + GAP * (len(shown) - 1)

    widths = {c.key: narrowest(c) for c in columns}
    while used(widths) > width:
        droppable = [c for c in shown if c.drop is not None]
        if not droppable:
            break  # the table scrolls sideways: nothing more may go
        shown.remove(min(droppable, key=lambda c: c.drop or 0))
    # Grow the shared columns toward their share, the flex one to its whole value, the
    # others to theirs; whatever is left widens the flex column (the table's full width).
    def grow(c: Column, goal: int) -> None:
        widths[c.key] += max(0, min(goal - widths[c.key], width - used(widths)))

    for c in shown:
        if c.share and not c.flex:
            grow(c, min(natural[c.key], max(widths[c.key], int(c.share * width))))
    flex = [c for c in shown if c.flex]
    for c in flex:
        grow(c, natural[c.key])
    for c in shown:
        if not c.full and not c.flex:
            grow(c, natural[c.key])
    for c in flex[:1]:
        grow(c, width)
    return [Fitted(c, widths[c.key]) for c in shown]


def hidden(columns: Sequence[Column], fitted: Sequence[Fitted]) -> list[Column]:
    shown = {f.column.key for f in fitted}
    return [c for c in columns if c.key not in shown]


def utc_time(value: object) -> str:
    """An ISO-8601 UTC time as `YYYY-MM-DD HH:MM:SS` (the tables say UTC once)."""
    text = str(value or "")
    if len(text) >= 19 and text[10] == "T":
        return f"{text[:10]} {text[11:19]}"
    return text or "-"
