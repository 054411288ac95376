"""The blob size above which one tier move pays for itself (docs/cost.md, "Break-even").

A blob of S GB moved from Hot to tier T at age d days and kept until age K days
spends m = (K - d) * 12 / 365 months in T. It saves S * (p_hot - p_T) * m, and costs
one write operation at T's price (Set Blob Tier is billed at the destination tier),
plus, for Archive, a fixed per-blob overhead billed every month (8 KiB at the Hot
rate + 32 KiB at the Archive rate), plus an early-deletion charge when m is shorter
than T's minimum (S * p_T * the missing months). Break-even:

    S = (write_T + overhead_T * m) / ((p_hot - p_T) * m - p_T * missing_months)

Below S the move loses money; when the denominator is <= 0 no size breaks even.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from archive.cost.inputs import PriceSheet
from archive.cost.model import KIB_PER_GB, MONTHS_PER_DAY


@dataclass(frozen=True)
class BreakEven:
    tier: str
    after_days: int
    keep_days: int
    months_in_tier: float
    move_cost: float  # per blob
    overhead_per_month: float  # per blob, Archive only
    saving_per_gb_month: float
    early_deletion_months: float
    gb: float  # math.inf: never pays

    @property
    def kib(self) -> float:
        return self.gb * KIB_PER_GB

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["kib"] = None if math.isinf(self.gb) else self.kib
        data["gb"] = None if math.isinf(self.gb) else self.gb
        return data


def break_even(sheet: PriceSheet, tier: str, after_days: int, keep_days: int) -> BreakEven:
    hot = sheet("blob.hot.capacity_gb_month")
    price = sheet(f"blob.{tier}.capacity_gb_month")
    months = max(0.0, (keep_days - after_days) * MONTHS_PER_DAY)
    minimum_months = sheet.early_deletion_days.get(tier, 0) * MONTHS_PER_DAY
    missing = max(0.0, minimum_months - months)
    move = sheet(f"blob.{tier}.write_per_10k") / 1e4
    overhead = 0.0
    if tier == "archive":
        overhead = (
            sheet.archive_overhead_hot_kib * hot + sheet.archive_overhead_archive_kib * price
        ) / KIB_PER_GB
    denominator = (hot - price) * months - price * missing
    gb = (move + overhead * months) / denominator if denominator > 0 else math.inf
    return BreakEven(tier, after_days, keep_days, months, move, overhead, hot - price, missing, gb)
