"""Column fitting and elision (tui/columns.py): pure, no terminal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from tui.columns import (
    ELLIPSIS,
    GAP,
    Column,
    elide_end,
    elide_middle,
    elide_path,
    fit_columns,
    utc_time,
)

pytestmark = [pytest.mark.unit, pytest.mark.tui]

WAMID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgWM0VCMEE4+RDE1QkY4MzY0QzFBNTI="
RECORD = (
    "year=2025/month=07/day=01/meta/106540352242922~~447700900123/"
    "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgWM0VCMEE4~2BRDE1QkY4MzY0QzFBNTI~3D/"
    "01751360700-message-inbound.json#1037543291543636"
)


def test_elide_middle_keeps_start_and_end() -> None:
    assert elide_middle(WAMID, 200) == WAMID
    short = elide_middle(WAMID, 15)
    assert short == "wamid.H…zFBNTI="
    assert cell_len(short) == 15
    assert elide_middle(WAMID, 1) == ELLIPSIS and elide_middle(WAMID, 0) == ""


def test_elide_counts_cells_not_characters() -> None:
    text = "👍🏽 مرحبا 👋 hello team 👋👋"
    for width in range(1, cell_len(text)):
        assert cell_len(elide_middle(text, width)) <= width
        assert cell_len(elide_end(text, width)) <= width


@given(st.text(min_size=0, max_size=80), st.integers(min_value=0, max_value=90))
def test_elided_text_fits_and_keeps_its_ends(text: str, width: int) -> None:
    short = elide_middle(text, width)
    assert cell_len(short) <= max(width, 0)
    if cell_len(text) <= width:
        assert short == text
    elif width >= 3:
        head, _, tail = short.partition(ELLIPSIS)
        assert text.startswith(head) and text.endswith(tail)


def test_elide_end_reads_from_the_start() -> None:
    reason = "media URL expired (HTTP 404) after 5 attempts"
    assert elide_end(reason, 20) == "media URL expired (…"
    assert elide_end(reason, 100) == reason


def test_a_record_path_keeps_its_start_and_its_message_id() -> None:
    message = RECORD.split("/")[-2]
    shown = elide_path(RECORD, 100)
    assert cell_len(shown) == 100
    assert shown.startswith("year=2025/…/") and f"/{message}/" in shown
    narrower = elide_path(RECORD, 31)
    assert narrower.startswith("year=2025/…/wamid.") and narrower.endswith("~3D/…")
    assert cell_len(narrower) == 31
    assert elide_path(RECORD, len(RECORD)) == RECORD
    raw = "year=2025/month=07/day=01/68272149cbfb5f82b613d6a3d89ccaf6cb443eaa.json#0"
    assert elide_path(raw, 31) == "year=2025/…/68272149c…aa.json#0"


COLUMNS = (
    Column("kind", "kind", full=True),
    Column("day", "day", full=True),
    Column("ref", "reference", min=12, share=0.22, elide=elide_path),
    Column("to", "to", min=10, drop=1),
    Column("reason", "reason", min=16, flex=True, elide=elide_end),
)
ROWS = [["orchestration failed", "2025-07-01", RECORD, "15550783881", "x" * 300],
        ["media gap", "2025-07-01", "ref", "15550783881", "short"]]


def widths(width: int) -> dict[str, int]:
    return {f.column.key: f.width for f in fit_columns(COLUMNS, ROWS, width)}


def test_full_columns_show_whole_and_the_reason_takes_the_rest() -> None:
    for total in (79, 119):
        got = widths(total)
        assert got["kind"] == len("orchestration failed") and got["day"] == 10
        assert sum(got.values()) + GAP * (len(got) - 1) == total
        assert got["reason"] >= 16


def test_columns_drop_least_important_first_when_narrow() -> None:
    assert "to" in widths(119)
    narrow = widths(61)  # exactly kind, day, the narrowest reference and reason
    assert "to" not in narrow and {"kind", "day", "ref", "reason"} <= set(narrow)
    assert (narrow["ref"], narrow["reason"]) == (12, 16)
    assert "to" in widths(72)  # ... and one more column's narrowest


def test_utc_time() -> None:
    assert utc_time("2025-07-01T09:05:00Z") == "2025-07-01 09:05:00"
    assert utc_time("2025-07-01T09:05:00.123456+00:00") == "2025-07-01 09:05:00"
    assert utc_time(None) == "-"
