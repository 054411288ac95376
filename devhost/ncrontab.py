"""NCRONTAB schedules as the timer trigger reads them: six fields, seconds first.

`{second} {minute} {hour} {day} {month} {day-of-week}`. Each field takes `*`,
numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and comma lists. Months and
weekdays also take three-letter English names. Like NCrontab (and unlike
classic cron), a day matches only when both day-of-month and day-of-week match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names mapped to numbers)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day-of-week", 0, 6, {name: i for i, name in enumerate(_WEEKDAYS)}),
)
_SEARCH_YEARS = 5  # far enough to find Feb 29 on a leap-year-only schedule


class ScheduleError(ValueError):
    """The expression is not a valid six-field NCRONTAB schedule."""


def _value(text: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    token = text.strip().lower()
    number = names.get(token[:3]) if token[:1].isalpha() else None
    if number is None:
        if not token.isdigit():
            raise ScheduleError(f"{field}: {text!r} is not a number")
        number = int(token)
    if not low <= number <= high:
        raise ScheduleError(f"{field}: {number} is outside {low}-{high}")
    return number


def _parse_field(
    text: str, low: int, high: int, names: dict[str, int], field: str
) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"{field}: empty list item in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field}: bad step in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _value(first, low, high, names, field)
            end = _value(last, low, high, names, field)
            if start > end:
                raise ScheduleError(f"{field}: range {base!r} runs backwards")
        else:
            start = _value(base, low, high, names, field)
            # "5/15" means from 5 to the end in steps of 15, as in NCrontab.
            end = high if slash else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    def matches(self, moment: datetime) -> bool:
        return (
            moment.second in self.seconds
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and self._day_matches(moment)
        )

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Python: Monday=0; NCRONTAB: Sunday=0
        return moment.month in self.months and moment.day in self.days and weekday in self.weekdays

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (keeps its tzinfo)."""
        current = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = moment + timedelta(days=366 * _SEARCH_YEARS)
        while current <= limit:
            if not self._day_matches(current):
                current = (current + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif current.hour not in self.hours:
                current = (current + timedelta(hours=1)).replace(minute=0, second=0)
            elif current.minute not in self.minutes:
                current = (current + timedelta(minutes=1)).replace(second=0)
            elif current.second not in self.seconds:
                current += timedelta(seconds=1)
            else:
                return current
        raise ScheduleError(f"{self.expression!r} never occurs")


def parse(expression: str) -> Schedule:
    parts = expression.split()
    if len(parts) != 6:
        raise ScheduleError(
            f"{expression!r}: NCRONTAB needs 6 fields (second minute hour day month day-of-week),"
            f" got {len(parts)}"
        )
    sets = [
        _parse_field(text, low, high, names, name)
        for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
    ]
    return Schedule(expression, *sets)
