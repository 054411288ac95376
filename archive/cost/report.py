"""`wa-archive cost` output: the JSON document and the text tables, from projections."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from archive.cost.assumptions import Assumptions
from archive.cost.breakeven import BreakEven
from archive.cost.inputs import STATUSES, PriceSheet, StorageOps
from archive.cost.model import CATEGORIES, LABELS, Projection, ratios


def _layout_json(projection: Projection) -> dict[str, Any]:
    return {
        "layout": projection.layout.describe(),
        "years": [
            {
                "year": y.year,
                "events": y.events,
                "total": y.total,
                "categories": dict(y.categories),
                "tier_moves": dict(y.moves),
                "gb_months": dict(y.gb_months),
            }
            for y in projection.years
        ],
        "cumulative": projection.cumulative(),
        "totals": projection.totals(),
        "total": projection.total,
    }


def to_json(
    a: Assumptions,
    sheet: PriceSheet,
    ops: StorageOps,
    projections: Sequence[Projection],
    break_even: BreakEven,
    sources: Mapping[str, str],
) -> dict[str, Any]:
    by_name = {p.layout.name: p for p in projections}
    doc: dict[str, Any] = {
        "inputs": a.to_json(),
        "prices": {
            "file": sources.get("prices"),
            "region": sheet.region,
            "currency": sheet.currency,
            "redundancy": sheet.redundancy,
            "source": sheet.source,
            "retrieved": sheet.retrieved,
            "status_counts": dict(Counter(p.status for p in sheet.prices.values())),
        },
        "storage_ops": {
            "file": sources.get("storage_ops"),
            "measured": ops.measured,
            "machine": ops.machine,
            "calls_per_event": {k: v.count() for k, v in ops.kinds.items()},
        },
        "layouts": {name: _layout_json(p) for name, p in by_name.items()},
        "break_even": break_even.to_json(),
    }
    if "seed" in by_name and "current" in by_name:
        doc["ratio_seed_to_current"] = ratios(by_name["seed"], by_name["current"])
    return doc


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def render(
    a: Assumptions,
    sheet: PriceSheet,
    ops: StorageOps,
    projections: Sequence[Projection],
    break_even: BreakEven,
) -> list[str]:
    w = a.workload
    media = ", ".join(f"{m.kib:g} KiB x{m.share:g}" for m in w.media)
    statuses = Counter(p.status for p in sheet.prices.values())
    status_text = ", ".join(f"{statuses[s]} {s}" for s in STATUSES if statuses[s])
    lines = [
        f"wa-archive cost: {w.events_per_day:,.0f} events/day, {w.years} years, growth "
        f"{w.growth * 100:g}%/year; media {w.media_share * 100:g}% ({media}), status "
        f"{w.status_share * 100:g}%, duplicates {w.duplicate_share * 100:g}%; all data kept "
        "for the whole horizon",
        f"prices: {sheet.region} {sheet.redundancy} {sheet.currency}, retrieved "
        f"{sheet.retrieved}; {len(sheet.prices)} prices: {status_text} (docs/cost.md)",
        f"storage calls per event (measured {ops.measured}): "
        + ", ".join(
            f"{k} {ops.kinds[k].count()}" for k in ("text", "image", "status", "duplicate")
        ),
        f"Durable backend: {a.platform.durable_backend}; Functions {a.platform.memory_mb} MB",
    ]
    width = max(len(label) for label in LABELS.values()) + 2
    for projection in projections:
        lines += ["", f"layout {projection.layout.name}, by year (USD)"]
        header = "".join(f"{'year ' + str(y.year):>12}" for y in projection.years)
        lines.append(f"  {'':<{width}}{header}{'total':>14}")
        totals = projection.totals()
        for category in CATEGORIES:
            cells = "".join(f"{_money(y.categories[category]):>12}" for y in projection.years)
            lines.append(f"  {LABELS[category]:<{width}}{cells}{_money(totals[category]):>14}")
        cells = "".join(f"{_money(y.total):>12}" for y in projection.years)
        lines.append(f"  {'total':<{width}}{cells}{_money(projection.total):>14}")
    lines += ["", f"{w.years}-year total by category (USD)"]
    names = [p.layout.name for p in projections]
    both = len(projections) == 2
    lines.append(
        f"  {'':<{width}}"
        + "".join(f"{n:>14}" for n in names)
        + (f"{'seed/current':>14}" if both else "")
    )
    ratio = ratios(projections[0], projections[1]) if both else {}
    for category in (*CATEGORIES, "total"):
        values = [p.totals()[category] if category != "total" else p.total for p in projections]
        label = LABELS.get(category, "total")
        lines.append(
            f"  {label:<{width}}"
            + "".join(f"{_money(v):>14}" for v in values)
            + (f"{_ratio(ratio[category]):>14}" if both else "")
        )
    size = "never" if break_even.gb == float("inf") else f"{break_even.kib:.1f} KiB"
    lines += [
        "",
        f"break-even: a blob moved Hot -> {break_even.tier} at {break_even.after_days}"
        f" days and kept {break_even.keep_days} days pays for its move above {size}",
    ]
    return lines
