"""The cost model's arithmetic against small cases worked out by hand.

Every expected number below is a literal computed on paper from round prices (the
derivation is in the comment above it), not the model's own output. Years are 365
days; a GB is 2^30 bytes = 1,048,576 KiB; a month is 365/12 days.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import archive.layout
from archive.cost.assumptions import Assumptions, MediaClass, Platform, Workload
from archive.cost.breakeven import break_even
from archive.cost.cohorts import tier_matrix
from archive.cost.inputs import (
    MAY_BE_UNKNOWN,
    REQUIRED_PRICES,
    InputError,
    parse_price_sheet,
    parse_storage_ops,
)
from archive.cost.layouts import (
    DEFAULT_SMALL_MEDIA_KIB,
    TierStep,
    current_layout,
    seed_layout,
)
from archive.cost.model import project, ratios

pytestmark = pytest.mark.unit


def sheet(**values: float | None) -> Any:
    """A price sheet where every price is 0 except `values` (dots spelled as __)."""
    prices: dict[str, Any] = {
        key: {"value": 0.0, "status": "unconfirmed"} for key in REQUIRED_PRICES
    }
    for key in MAY_BE_UNKNOWN:
        prices[key] = {"value": None, "status": "unknown"}
    for name, value in values.items():
        prices[name.replace("__", ".")] = {"value": value, "status": "unconfirmed"}
    return parse_price_sheet(
        {
            "schema": "wa-archive/prices@1",
            "region": "test",
            "currency": "USD",
            "redundancy": "LRS",
            "source": "hand-made",
            "retrieved": "2026-12-04",
            "rules": {
                "early_deletion_days": {"cool": 30, "cold": 90, "archive": 180},
                "archive_overhead_kib": {"hot": 8, "archive": 32},
            },
            "prices": prices,
        }
    )


TEXT_STAGES = {
    "1 webhook": {"queue": {"write": 1}},
    "2 queue trigger": {"blob": {"write": 1, "read": 1}, "queue": {"read": 1, "delete": 1}},
    "3 orchestration": {"table": {"write": 7, "read": 2}},
    "4 record": {"blob": {"write": 1}},
    "5 index": {"table": {"write": 5}},
}


def ops() -> Any:
    kinds = {k: {"stages": TEXT_STAGES} for k in ("text", "image", "status", "duplicate")}
    return parse_storage_ops(
        {
            "schema": "wa-archive/storage-ops@1",
            "measured": "2026-12-04",
            "machine": "test",
            "kinds": kinds,
        }
    )


def one_year(**workload: Any) -> Assumptions:
    base: dict[str, Any] = {
        "events_per_day": 1000,
        "years": 1,
        "media_share": 0.0,
        "raw_kib": 2.0,
        "record_kib": 3.0,
        "seal_leaf_bytes": 0.0,
        "audit_blobs_per_day": 0.0,
    }
    base.update(workload)
    return Assumptions(Workload(**base))


def test_seed_tier_moves_and_capacity_for_one_year() -> None:
    prices = sheet(
        blob__cool__write_per_10k=1.0,
        blob__hot__capacity_gb_month=1.0,
        blob__cool__capacity_gb_month=0.5,
    )
    year = project(one_year(), prices, ops(), seed_layout(90, 365)).years[0]
    # Blobs per day: 1,000 raw + 1,000 records + 1 seal = 2,001. A day-d cohort moves to
    # Cool on day d + 90 if that is inside the year: d = 0..274, 275 days.
    # 275 * 2,001 = 550,275 moves; at $1 per 10,000: $55.0275. Nothing reaches Archive.
    assert year.moves == {"hot": 0, "cool": 550_275, "cold": 0, "archive": 0}
    assert year.categories["tier_moves"] == pytest.approx(55.0275)
    # Hot blob-days per daily blob: 275 cohorts * 90 + (90 + 89 + ... + 1) = 24,750 + 4,095
    # = 28,845. KiB per day: 1,000 * (2 + 3) = 5,000 (the seal is 0 KiB here).
    # 28,845 * 5,000 = 144,225,000 KiB-days / 1,048,576 = 137.5437 GB-days
    # * 12 / 365 = 4.52198 GB-months, at $1: $4.52198.
    assert year.categories["storage_hot"] == pytest.approx(4.52198, rel=1e-5)
    # Cool blob-days: (275 + 274 + ... + 1) = 275 * 276 / 2 = 37,950; * 5,000 KiB
    # = 189,750,000 KiB-days / 1,048,576 * 12 / 365 = 5.94936 GB-months, at $0.5: $2.97468.
    assert year.categories["storage_cool"] == pytest.approx(2.97468, rel=1e-5)
    assert year.total == pytest.approx(55.0275 + 4.52198 + 2.97468, rel=1e-5)


def test_current_layout_moves_only_media_at_or_above_the_threshold() -> None:
    prices = sheet(blob__cold__write_per_10k=2.0, blob__cold__capacity_gb_month=0.2)
    workload = one_year(
        media_share=0.5, media=(MediaClass("sticker", 10, 0.5), MediaClass("photo", 100, 0.5))
    )
    year = project(workload, prices, ops(), current_layout("cold", 90, 24)).years[0]
    # 1,000 events * 0.5 media * 0.5 photos = 250 photos a day of 100 KiB; stickers (10 KiB)
    # stay Hot under small/. 275 cohorts move: 275 * 250 = 68,750 moves * $2/10,000 = $13.75.
    assert year.moves["cold"] == 68_750
    assert year.categories["tier_moves"] == pytest.approx(13.75)
    # Cold blob-days 37,950 (as for Cool above) * 250 * 100 KiB = 948,750,000 KiB-days
    # / 1,048,576 * 12 / 365 = 29.74680 GB-months * $0.2 = $5.94936.
    assert year.categories["storage_cold"] == pytest.approx(5.94936, rel=1e-5)


def test_per_event_categories_for_one_year_of_text() -> None:
    prices = sheet(
        blob__hot__write_per_10k=0.5,
        blob__hot__read_per_10k=0.1,
        queue__class1_per_10k=1.0,
        queue__class2_per_10k=0.5,
        table__transactions_per_10k=1.0,
        functions__flex__executions_per_million=1.0,
        functions__flex__gb_second=0.00001,
        loganalytics__ingestion_per_gb=2.0,
        keyvault__operations_per_10k=0.1,
        keyvault__advanced_key_operations_per_10k=1.0,
    )
    year = project(
        Assumptions(one_year().workload, Platform(memory_mb=1024)), prices, ops(), seed_layout()
    ).years[0]
    c = year.categories
    # 365,000 text events. Blob: 2 writes * $0.5 + 1 read * $0.1 = $1.1 per 10,000 events
    # -> $40.15; daily jobs: verification reads 2,000 new blobs * $0.1/10,000 = $0.02 a
    # day -> $7.30, and the seal write $0.5/10,000 a day -> $0.01825. 40.15 + 7.30 + 0.01825.
    assert c["blob_operations"] == pytest.approx(47.46825)
    # Queue: 1 put (class 1, $1) + get + delete (class 2, 2 * $0.5) = $2 per 10,000 -> $73;
    # idle polls 30/min * 525,600 min = 15,768,000 * $0.5/10,000 = $788.40. 73 + 788.40.
    assert c["queues"] == pytest.approx(861.40)
    # Index: 5 table calls * $1/10,000 * 365,000 = $182.50 (row capacity priced at 0).
    assert c["index_tables"] == pytest.approx(182.50)
    # Durable (Azure Storage): 3 messages (start, work item, result) * ($1 + 2 * $0.5)
    # = $6 per 10,000; table calls max(devhost 9, 2 * 2 + 1 = 5) = 9 * $1 -> $15 per
    # 10,000 events = $547.50. Polls: 5 queues * 31,536,000 s / 1 s = 157,680,000
    # * $0.5/10,000 = $7,884. 547.50 + 7,884.
    assert c["durable_backend"] == pytest.approx(8431.50)
    # Executions per event: http 1 + queue 1 + 2 orchestrator episodes + 1 activity = 5;
    # 1,825,000 * $1/million = $1.825.
    assert c["functions_executions"] == pytest.approx(1.825)
    # GB-s at 1 GB: (40 + 120 + 2 * 20 + 150) ms = 0.35 s * 365,000 = 127,750 s, + timers
    # 2,400 s * 365 = 876,000 s -> 1,003,750 GB-s * $0.00001 = $10.0375.
    assert c["functions_gb_seconds"] == pytest.approx(10.0375)
    # Logs: 1,825,000 invocations * 500 B = 0.9125 GB * $2 = $1.825.
    assert c["log_ingestion"] == pytest.approx(1.825)
    # Key Vault: 365 * ((1 sign + 1 key read) * $1 + 9 secret reads * $0.1) / 10,000
    # = 365 * 2.9 / 10,000 = $0.10585.
    assert c["key_vault"] == pytest.approx(0.10585)


def test_growth_compounds_once_a_year() -> None:
    workload = Workload(events_per_day=1000, years=3, growth=0.1)
    # Year 3: 1,000 * 1.1 * 1.1 = 1,210 a day.
    assert workload.events_per_day_in(3) == pytest.approx(1210)


def test_free_grants_come_off_each_month() -> None:
    prices = sheet(
        functions__flex__executions_per_million=1.0,
        functions__flex__free_executions_month=100_000,
    )
    year = project(one_year(), prices, ops(), seed_layout()).years[0]
    # 1,825,000 executions a year = 152,083.33 a month; minus 100,000 free = 52,083.33
    # * 12 = 625,000 billable * $1/million = $0.625.
    assert year.categories["functions_executions"] == pytest.approx(0.625)


def test_tier_matrix_over_two_years() -> None:
    matrix = tier_matrix((TierStep("cool", 90),), 2)
    # Created in year 1: days 0..274 move in year 1 (275), days 275..364 in year 2 (90).
    assert matrix.moves[0][0]["cool"] == 275 and matrix.moves[0][1]["cool"] == 90
    # Created in year 2 (days 365..729): those with d + 90 < 730, i.e. 275 of them.
    assert matrix.moves[1][1]["cool"] == 275
    # Year 2 for year-1 blobs: 275 cohorts Cool all year (275 * 365 = 100,375) and the
    # 90 late ones Cool from d + 90 (276 + ... + 365 = 28,845): 129,220; Hot: 0 + ... + 89
    # = 4,005. Together 365 * 365 = 133,225 blob-days.
    assert matrix.blob_days[0][1]["cool"] == 129_220
    assert matrix.blob_days[0][1]["hot"] == 4_005


def test_break_even_hot_to_cold() -> None:
    prices = sheet(
        blob__hot__capacity_gb_month=0.02,
        blob__cold__capacity_gb_month=0.004,
        blob__cold__write_per_10k=0.2,
    )
    edge = break_even(prices, "cold", 90, 455)
    # 365 days in Cold = 12 months; S = $0.00002 / (($0.02 - $0.004) * 12) = 1.0417e-4 GB
    # = 109.227 KiB.
    assert edge.months_in_tier == pytest.approx(12)
    assert edge.kib == pytest.approx(109.227, rel=1e-5)


def test_break_even_archive_counts_the_per_blob_overhead() -> None:
    prices = sheet(
        blob__hot__capacity_gb_month=0.02,
        blob__archive__capacity_gb_month=0.001,
        blob__archive__write_per_10k=0.1,
    )
    edge = break_even(prices, "archive", 365, 730)
    # Overhead per blob-month: (8 * 0.02 + 32 * 0.001) / 1,048,576 = $1.8311e-7; over 12
    # months $2.1973e-6. S = (1e-5 + 2.1973e-6) / ((0.02 - 0.001) * 12) = 5.3497e-5 GB
    # = 56.095 KiB.
    assert edge.kib == pytest.approx(56.095, rel=1e-4)


def test_break_even_never_when_the_tier_saves_nothing() -> None:
    prices = sheet(blob__hot__capacity_gb_month=0.01, blob__cool__capacity_gb_month=0.01)
    assert math.isinf(break_even(prices, "cool", 90, 2555).gb)


def test_ratio_is_seed_over_current() -> None:
    prices = sheet(blob__cool__write_per_10k=1.0, blob__hot__write_per_10k=1.0)
    seed = project(one_year(), prices, ops(), seed_layout())
    current = project(one_year(), prices, ops(), current_layout())
    # Current pays the writes only; seed adds 550,275 moves ($55.0275) on top.
    assert ratios(seed, current)["total"] == pytest.approx(seed.total / current.total)
    assert seed.total - current.total == pytest.approx(55.0275)


def test_unknown_price_is_refused_with_its_field() -> None:
    with pytest.raises(InputError, match=r"durable\.dts_consumption_per_million_actions"):
        project(
            Assumptions(one_year().workload, Platform(durable_backend="dts")),
            sheet(),
            ops(),
            seed_layout(),
        )


def test_shares_must_fit() -> None:
    with pytest.raises(InputError, match="shares"):
        project(one_year(media_share=0.8, status_share=0.5), sheet(), ops(), seed_layout())


def test_small_media_default_matches_the_blob_layout() -> None:
    # The current layout's threshold is the one archive.layout writes small/ media under.
    assert archive.layout.SMALL_MEDIA_MAX_BYTES / 1024 == DEFAULT_SMALL_MEDIA_KIB
