"""NCRONTAB parsing and next-occurrence arithmetic (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devhost.ncrontab import ScheduleError, parse

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 26, 20, 41, 7, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * * *", datetime(2026, 11, 26, 20, 41, 8, tzinfo=UTC)),
        ("0 */5 * * * *", datetime(2026, 11, 26, 20, 45, 0, tzinfo=UTC)),
        ("30 0 9 * * *", datetime(2026, 11, 27, 9, 0, 30, tzinfo=UTC)),
        ("0 0 9-17 * * 1-5", datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)),
        ("0 0 9 * * Mon", datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)),
        ("0 0 0 1 Jan *", datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)),
        ("0 0 12 * * 0,6", datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)),
        ("15,45 * * * * *", datetime(2026, 11, 26, 20, 41, 15, tzinfo=UTC)),
        ("0 0 0 29 2 *", datetime(2028, 2, 29, 0, 0, 0, tzinfo=UTC)),
        ("5/20 * * * * *", datetime(2026, 11, 26, 20, 41, 25, tzinfo=UTC)),
        ("0 0 10-20/5 * * *", datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)),
        # Day-of-month AND day-of-week (NCrontab), not cron's OR: the next Friday the 13th.
        ("0 0 0 13 * 5", datetime(2027, 8, 13, 0, 0, 0, tzinfo=UTC)),
    ],
)
def test_next_occurrence(expression: str, expected: datetime):
    assert parse(expression).next_after(START) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",  # five fields: classic cron is not NCRONTAB
        "60 * * * * *",
        "* * 24 * * *",
        "* * * 0 * *",
        "* * * * 13 *",
        "* * * * * 7",
        "*/0 * * * * *",
        "5-1 * * * * *",
        "a * * * * *",
        "1,,2 * * * * *",
        "0 0 0 31 2 *",  # never happens
    ],
)
def test_invalid_schedules_are_rejected(expression: str):
    with pytest.raises(ScheduleError):
        parse(expression).next_after(START)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    st.sampled_from(["*/7 * * * * *", "0 */13 * * * *", "0 0 3 * * 1-5", "0 30 1 1,15 * *"]),
)
def test_next_occurrence_matches_and_nothing_is_skipped(moment: datetime, expression: str):
    schedule = parse(expression)
    moment = moment.replace(tzinfo=UTC)
    found = schedule.next_after(moment)
    assert found > moment
    assert schedule.matches(found)
    # Nothing in between is skipped: no whole second strictly between them matches.
    if found - moment < timedelta(hours=3):
        probe = moment.replace(microsecond=0) + timedelta(seconds=1)
        while probe < found:
            assert not schedule.matches(probe)
            probe += timedelta(seconds=1)
