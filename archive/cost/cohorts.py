"""How long blobs spend in each tier, per calendar year of the horizon.

Blobs are created every day; the day-d cohort sits in Hot from day d, then in each
tier of its schedule from day d + after_days, until the end of the horizon (the
archive keeps everything for the whole horizon: 7 years is the retention period, so
nothing is deleted and no early-deletion charge arises). For one blob created per day
during creation year c, `tier_matrix` gives, per billing year y, the blob-days spent
in each tier and the number of moves into each tier. The model scales it by the
number and size of blobs each year actually creates (growth changes that per year).
Years are 365 days; a blob is billed for the days it exists, per GB-month as
days * 12 / 365 months.
"""

from __future__ import annotations

from dataclasses import dataclass

from archive.cost.inputs import TIERS
from archive.cost.layouts import Schedule

DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class TierMatrix:
    # blob_days[c][y][tier]: blob-days in `tier` during year y of blobs created in year c
    blob_days: tuple[tuple[dict[str, float], ...], ...]
    # moves[c][y][tier]: moves into `tier` made during year y by blobs created in year c
    moves: tuple[tuple[dict[str, float], ...], ...]


def _overlap(start: int, end: int, low: int, high: int) -> int:
    return max(0, min(end, high) - max(start, low))


def tier_matrix(schedule: Schedule, years: int) -> TierMatrix:
    horizon = years * DAYS_PER_YEAR
    blob_days = [[dict.fromkeys(TIERS, 0.0) for _ in range(years)] for _ in range(years)]
    moves = [[dict.fromkeys(TIERS, 0.0) for _ in range(years)] for _ in range(years)]
    for day in range(horizon):
        created = day // DAYS_PER_YEAR
        # Segments [start, end) of this cohort's life, one per tier it passes through.
        bounds = [("hot", day)] + [(s.tier, day + s.after_days) for s in schedule]
        for index, (tier, start) in enumerate(bounds):
            end = bounds[index + 1][1] if index + 1 < len(bounds) else horizon
            end = min(end, horizon)
            if start >= end:
                continue
            if index:  # entering this tier is one Set Blob Tier, made on day `start`
                moves[created][start // DAYS_PER_YEAR][tier] += 1
            first, last = start // DAYS_PER_YEAR, (end - 1) // DAYS_PER_YEAR
            for year in range(first, last + 1):
                blob_days[created][year][tier] += _overlap(
                    start, end, year * DAYS_PER_YEAR, (year + 1) * DAYS_PER_YEAR
                )
    return TierMatrix(tuple(tuple(row) for row in blob_days), tuple(tuple(row) for row in moves))
