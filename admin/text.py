"""Make provider-controlled text safe to show on a terminal.

Ids, references and reasons come from webhooks and provider APIs. Printed raw, an
ANSI or OSC escape in them can clear the screen, rewrite earlier lines or retitle the
window, so an admin would act on something the archive never said. Every C0 and C1
control character (and DEL) is dropped, and so are the bidirectional overrides that
can make text read in another order; line breaks and tabs become spaces, so one
value stays on one table line. Rich markup is escaped separately, by the TUI, since
only the TUI interprets it.
"""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"[\t\n\r\v\f]")
_LINE_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: object) -> str:
    """`value` as one line of text with no control characters ("" for None)."""
    if value is None:
        return ""
    return _CONTROLS.sub("", _WHITESPACE.sub(" ", str(value)))


def printable_lines(text: str) -> str:
    """Like printable, but keeps line breaks: for a multi-line block such as a record."""
    return _LINE_CONTROLS.sub("", text)
