"""Price a workload year by year under one blob layout.

Per event, the storage calls come from the measured counts (`StorageOps`): blob calls
are priced at the Hot tier's operation prices by class, queue calls as class 1 (put,
list) or class 2 (get, delete, other) operations, table calls as table transactions.
Stage 3 (devhost's Durable backend) is replaced by a model of the production backend,
with devhost's table calls kept as a lower bound. Capacity and tier moves come from
the cohort matrix (`cohorts`). Everything is kept for the whole horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from archive.cost.assumptions import Assumptions
from archive.cost.cohorts import DAYS_PER_YEAR, TierMatrix, tier_matrix
from archive.cost.inputs import TIERS, KindOps, PriceSheet, StorageOps
from archive.cost.layouts import Layout, Schedule

CATEGORIES = (
    "blob_operations",
    "tier_moves",
    "storage_hot",
    "storage_cool",
    "storage_cold",
    "storage_archive",
    "index_tables",
    "queues",
    "durable_backend",
    "functions_executions",
    "functions_gb_seconds",
    "key_vault",
    "log_ingestion",
)
LABELS = {
    "blob_operations": "blob write/read operations",
    "tier_moves": "tier moves (Set Blob Tier)",
    "storage_hot": "storage: Hot",
    "storage_cool": "storage: Cool",
    "storage_cold": "storage: Cold",
    "storage_archive": "storage: Archive (+ per-blob overhead)",
    "index_tables": "index tables (transactions + rows)",
    "queues": "queues (ingest)",
    "durable_backend": "Durable backend",
    "functions_executions": "Functions executions",
    "functions_gb_seconds": "Functions GB-seconds",
    "key_vault": "Key Vault (seal signing)",
    "log_ingestion": "log ingestion",
}
DURABLE_STAGE = "3"  # stage "3 orchestration" in bench.storage_ops
KIB_PER_GB = 1024.0 * 1024.0
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86400.0
MONTHS_PER_DAY = 12.0 / DAYS_PER_YEAR


@dataclass(frozen=True)
class YearCost:
    year: int
    events: float
    categories: Mapping[str, float]
    moves: Mapping[str, float]  # Set Blob Tier calls into each tier
    gb_months: Mapping[str, float]  # blob capacity by tier

    @property
    def total(self) -> float:
        return sum(self.categories.values())


@dataclass(frozen=True)
class Projection:
    layout: Layout
    years: tuple[YearCost, ...]

    def totals(self) -> dict[str, float]:
        return {c: sum(y.categories[c] for y in self.years) for c in CATEGORIES}

    @property
    def total(self) -> float:
        return sum(y.total for y in self.years)

    def cumulative(self) -> list[float]:
        running, out = 0.0, []
        for year in self.years:
            running += year.total
            out.append(running)
        return out


@dataclass(frozen=True)
class BlobClass:
    """Blobs one container gets per day, and their size, in each creation year."""

    container: str
    per_day: tuple[float, ...]
    kib: tuple[float, ...]


@cache
def _matrix(schedule: Schedule, years: int) -> TierMatrix:
    return tier_matrix(schedule, years)


def _activities(kind: str) -> int:
    """Activities of one orchestration: the record activity, plus one per media item."""
    return {"text": 1, "status": 1, "image": 2}.get(kind, 0)


def _blob_classes(a: Assumptions) -> list[tuple[BlobClass, float]]:
    """(blob class, the size that decides its tiering)."""
    w = a.workload
    years = range(1, w.years + 1)
    daily = [w.events_per_day_in(y) for y in years]
    stored = [d * (1 - w.duplicate_share) for d in daily]  # a duplicate stores nothing
    classes = [
        (BlobClass("raw", tuple(stored), (w.raw_kib,) * w.years), w.raw_kib),
        (BlobClass("records", tuple(stored), (w.record_kib,) * w.years), w.record_kib),
    ]
    for media in w.media:
        per_day = tuple(d * w.media_share * media.share for d in daily)
        classes.append((BlobClass("media", per_day, (media.kib,) * w.years), media.kib))
    blobs_per_day = [sum(c.per_day[i] for c, _ in classes) for i in range(w.years)]
    seal_kib = tuple(n * w.seal_leaf_bytes / 1024 for n in blobs_per_day)
    classes.append((BlobClass("seals", (1.0,) * w.years, seal_kib), sum(seal_kib) / w.years))
    classes.append(
        (
            BlobClass("audit", (w.audit_blobs_per_day,) * w.years, (w.audit_kib,) * w.years),
            w.audit_kib,
        )
    )
    return classes


def _per_event(kind: KindOps, price: Callable[[str], float]) -> dict[str, float]:
    """Cost of one event's measured calls outside the Durable stage, by category."""
    outside = {"exclude_stage_prefix": DURABLE_STAGE}
    blob = (
        kind.count("blob", op_class="write", **outside) * price("blob.hot.write_per_10k")
        + kind.count("blob", op_class="read", **outside) * price("blob.hot.read_per_10k")
        + kind.count("blob", op_class="list", **outside) * price("blob.hot.list_per_10k")
        + kind.count("blob", op_class="other", **outside) * price("blob.hot.other_per_10k")
    )
    class1 = kind.count("queue", op_class="write", **outside) + kind.count(
        "queue", op_class="list", **outside
    )
    class2 = kind.count("queue", **outside) - class1
    queue = class1 * price("queue.class1_per_10k") + class2 * price("queue.class2_per_10k")
    table = kind.count("table", **outside) * price("table.transactions_per_10k")
    return {"blob_operations": blob / 1e4, "queues": queue / 1e4, "index_tables": table / 1e4}


def _durable_per_event(
    kind_name: str, kind: KindOps, a: Assumptions, price: Callable[[str], float]
) -> float:
    measured_tables = kind.count("table", stage_prefix=DURABLE_STAGE)
    activities = _activities(kind_name)
    if not activities:  # a duplicate: the instance read, nothing starts
        if a.platform.durable_backend == "dts":
            return 0.0
        return measured_tables * price("table.transactions_per_10k") / 1e4
    if a.platform.durable_backend == "dts":
        actions = 1 + 2 * activities  # start; schedule + result per activity
        return actions * price("durable.dts_consumption_per_million_actions") / 1e6
    # Azure Storage provider: a control-queue message starts the orchestration; each
    # activity is a work-item message plus a result message on the control queue;
    # every message is put (class 1), then got and deleted (class 2).
    messages = 1 + 2 * activities
    queue = messages * (price("queue.class1_per_10k") + 2 * price("queue.class2_per_10k"))
    # History batch + instance row per episode (start + one per activity result), and
    # the instance read before start; devhost's measured table calls are a floor.
    tables = max(measured_tables, 2 * (1 + activities) + 1)
    return (queue + tables * price("table.transactions_per_10k")) / 1e4


def _invocations(kind: str) -> tuple[float, float, float, float]:
    """(http, queue trigger, orchestrator episodes, activities) for one event."""
    activities = _activities(kind)
    episodes = 1 + activities if activities else 0
    return 1.0, 1.0, float(episodes), float(activities)


def _with_free_grant(yearly: float, free_per_month: float) -> float:
    return max(0.0, yearly / 12 - free_per_month) * 12


def project(a: Assumptions, sheet: PriceSheet, ops: StorageOps, layout: Layout) -> Projection:
    a.check()
    w, p = a.workload, a.platform
    shares = {
        "text": w.text_share,
        "image": w.media_share,
        "status": w.status_share,
        "duplicate": w.duplicate_share,
    }
    per_event = {k: _per_event(ops.kinds[k], sheet) for k in shares}
    durable_event = {k: _durable_per_event(k, ops.kinds[k], a, sheet) for k in shares}
    memory_gb = p.memory_mb / 1024
    classes = _blob_classes(a)
    rows_matrix = _matrix((), w.years)
    index_rows = {
        k: ops.kinds[k].count("table", stage_prefix="5", op_class="write") for k in shares
    }
    years: list[YearCost] = []
    for y in range(w.years):
        daily = w.events_per_day_in(y + 1)
        events = {k: daily * DAYS_PER_YEAR * s for k, s in shares.items()}
        cost = dict.fromkeys(CATEGORIES, 0.0)
        for k, n in events.items():
            for category, value in per_event[k].items():
                cost[category] += n * value
            cost["durable_backend"] += n * durable_event[k]
        # Daily jobs: seal and verification list the day's blobs, verification reads
        # each once; the seal and audit entries are blob writes.
        new_blobs = sum(c.per_day[y] for c, _ in classes if c.container != "seals")
        cost["blob_operations"] += (
            DAYS_PER_YEAR
            / 1e4
            * (
                2 * new_blobs / p.list_page_blobs * sheet("blob.hot.list_per_10k")
                + new_blobs * p.verify_reads_per_blob * sheet("blob.hot.read_per_10k")
                + (1 + w.audit_blobs_per_day) * sheet("blob.hot.write_per_10k")
            )
        )
        cost["queues"] += (
            p.ingest_idle_polls_per_minute
            * 60
            * 24
            * DAYS_PER_YEAR
            * sheet("queue.class2_per_10k")
            / 1e4
        )
        moves = dict.fromkeys(TIERS, 0.0)
        gb_months = dict.fromkeys(TIERS, 0.0)
        archive_blob_days = 0.0
        for blob, tiering_kib in classes:
            matrix = _matrix(layout.schedule(blob.container, tiering_kib), w.years)
            for c in range(y + 1):
                for tier in TIERS:
                    blob_days = blob.per_day[c] * matrix.blob_days[c][y][tier]
                    gb_months[tier] += blob_days * blob.kib[c] / KIB_PER_GB * MONTHS_PER_DAY
                    moves[tier] += blob.per_day[c] * matrix.moves[c][y][tier]
                archive_blob_days += blob.per_day[c] * matrix.blob_days[c][y]["archive"]
        for tier in TIERS:
            cost[f"storage_{tier}"] += gb_months[tier] * sheet(f"blob.{tier}.capacity_gb_month")
            cost["tier_moves"] += moves[tier] * sheet(f"blob.{tier}.write_per_10k") / 1e4
        overhead_gb_months = archive_blob_days * MONTHS_PER_DAY / KIB_PER_GB
        cost["storage_archive"] += overhead_gb_months * (
            sheet.archive_overhead_hot_kib * sheet("blob.hot.capacity_gb_month")
            + sheet.archive_overhead_archive_kib * sheet("blob.archive.capacity_gb_month")
        )
        # Index rows and Durable history are kept (and billed) for the whole horizon.
        row_days = sum(
            w.events_per_day_in(c + 1)
            * shares[k]
            * index_rows[k]
            * rows_matrix.blob_days[c][y]["hot"]
            for c in range(y + 1)
            for k in shares
        )
        cost["index_tables"] += (
            row_days
            * w.index_row_kib
            / KIB_PER_GB
            * MONTHS_PER_DAY
            * sheet("table.capacity_gb_month")
        )
        if p.durable_backend == "azure-storage":
            started = 1 - w.duplicate_share
            history_days = sum(
                w.events_per_day_in(c + 1) * started * rows_matrix.blob_days[c][y]["hot"]
                for c in range(y + 1)
            )
            cost["durable_backend"] += (
                history_days
                * p.durable_history_kib_per_orchestration
                / KIB_PER_GB
                * MONTHS_PER_DAY
                * sheet("table.capacity_gb_month")
                + p.durable_partitions
                * SECONDS_PER_YEAR
                / p.lease_renew_seconds
                * sheet("blob.hot.other_per_10k")
                / 1e4
                + (p.durable_partitions + 1)
                * SECONDS_PER_YEAR
                / p.durable_poll_seconds
                * sheet("queue.class2_per_10k")
                / 1e4
            )
        executions = 0.0
        active_seconds = p.timer_seconds_per_day * DAYS_PER_YEAR
        for k, n in events.items():
            http, queue, episodes, activities = _invocations(k)
            media_activities = 1.0 if k == "image" else 0.0
            executions += n * (http + queue + episodes + activities)
            active_seconds += (
                n
                * (
                    http * p.ms_http
                    + queue * p.ms_queue_trigger
                    + episodes * p.ms_orchestrator_episode
                    + (activities - media_activities) * p.ms_activity
                    + media_activities * p.ms_media_activity
                )
                / 1000
            )
        cost["functions_executions"] = (
            _with_free_grant(executions, sheet("functions.flex.free_executions_month"))
            * sheet("functions.flex.executions_per_million")
            / 1e6
        )
        cost["functions_gb_seconds"] = _with_free_grant(
            active_seconds * memory_gb / p.overlap, sheet("functions.flex.free_gb_seconds_month")
        ) * sheet("functions.flex.gb_second")
        cost["key_vault"] = (
            DAYS_PER_YEAR
            / 1e4
            * (
                (p.kv_signs_per_day + p.kv_key_reads_per_day)
                * sheet("keyvault.advanced_key_operations_per_10k")
                + p.kv_secret_reads_per_day * sheet("keyvault.operations_per_10k")
            )
        )
        log_gb = executions * p.log_bytes_per_invocation / 1e9
        cost["log_ingestion"] = _with_free_grant(
            log_gb, sheet("loganalytics.free_gb_month")
        ) * sheet("loganalytics.ingestion_per_gb")
        years.append(YearCost(y + 1, sum(events.values()), cost, moves, gb_months))
    return Projection(layout, tuple(years))


def ratios(seed: Projection, current: Projection) -> dict[str, float | None]:
    """seed / current per category and in total (None where current costs nothing)."""
    out: dict[str, float | None] = {}
    seed_totals, current_totals = seed.totals(), current.totals()
    for category in CATEGORIES:
        out[category] = (
            seed_totals[category] / current_totals[category] if current_totals[category] else None
        )
    out["total"] = seed.total / current.total if current.total else None
    return out
