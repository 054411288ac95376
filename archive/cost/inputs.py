"""The two data inputs of the cost model, validated: the price sheet and the measured
storage calls per event. Both arrive as parsed JSON; every problem is an InputError
naming the field, so the CLI can print one line that says what to fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRICES_SCHEMA = "wa-archive/prices@1"
STORAGE_OPS_SCHEMA = "wa-archive/storage-ops@1"

TIERS = ("hot", "cool", "cold", "archive")
OP_CLASSES = ("read", "write", "list", "delete", "other")
SERVICES = ("blob", "queue", "table")
KINDS = ("text", "image", "status", "duplicate")
STATUSES = ("confirmed", "third-party", "unconfirmed", "unknown")

# Every price the model multiplies by. Units are in the key: *_gb_month per GB (2^30
# bytes) per month, *_per_10k per 10,000 operations, *_per_million per 1,000,000.
REQUIRED_PRICES = (
    *(f"blob.{tier}.capacity_gb_month" for tier in TIERS),
    *(f"blob.{tier}.write_per_10k" for tier in TIERS),
    *(f"blob.{tier}.read_per_10k" for tier in TIERS),
    "blob.hot.list_per_10k",
    "blob.hot.other_per_10k",
    "table.capacity_gb_month",
    "table.transactions_per_10k",
    "queue.capacity_gb_month",
    "queue.class1_per_10k",
    "queue.class2_per_10k",
    "functions.flex.gb_second",
    "functions.flex.executions_per_million",
    "functions.flex.free_gb_seconds_month",
    "functions.flex.free_executions_month",
    "keyvault.operations_per_10k",
    "keyvault.advanced_key_operations_per_10k",
    "loganalytics.ingestion_per_gb",
    "loganalytics.free_gb_month",
    "durable.dts_consumption_per_million_actions",
)
# Prices nobody could confirm a figure for may be null: the model refuses to use them
# (and says which field to fill in) rather than guess.
MAY_BE_UNKNOWN = frozenset({"durable.dts_consumption_per_million_actions"})


class InputError(ValueError):
    """A price sheet or storage-ops document is missing a field or holds a bad value."""


@dataclass(frozen=True)
class Price:
    key: str
    value: float | None
    unit: str
    status: str
    source: str
    meter: Mapping[str, str] | None


@dataclass(frozen=True)
class PriceSheet:
    region: str
    currency: str
    redundancy: str
    source: str
    retrieved: str
    prices: Mapping[str, Price]
    early_deletion_days: Mapping[str, int]
    # Per blob in Archive: this much is billed at the Hot rate (name, metadata) and this
    # much more at the Archive rate (index), whatever the blob's size.
    archive_overhead_hot_kib: float
    archive_overhead_archive_kib: float

    def __call__(self, key: str) -> float:
        """The value of price `key`; InputError when it is absent or unknown."""
        price = self.prices.get(key)
        if price is None:
            raise InputError(f"price sheet: no price {key!r}")
        if price.value is None:
            raise InputError(
                f"price sheet: {key} is unknown; enter your own value in a "
                "copy of the sheet and pass it with --prices"
            )
        return price.value


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in data:
        raise InputError(f"{where}: missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(f"{where}: field {name!r} has the wrong type")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: not a number")
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: must be a finite number >= 0")
    return float(value)


def _price(key: str, raw: Any) -> Price:
    where = f"price sheet: prices.{key}"
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: not an object")
    status = _field(raw, "status", str, where)
    if status not in STATUSES:
        raise InputError(f"{where}: status must be one of {', '.join(STATUSES)}")
    value = raw.get("value")
    if value is None:
        if key not in MAY_BE_UNKNOWN:
            raise InputError(f"{where}: field 'value' is missing or null")
        number = None
    else:
        number = _number(value, f"{where}.value")
    meter = raw.get("meter")
    if meter is not None and not (
        isinstance(meter, Mapping) and all(isinstance(v, str) for v in meter.values())
    ):
        raise InputError(f"{where}: field 'meter' must map names to strings")
    return Price(key, number, str(raw.get("unit", "")), status, str(raw.get("source", "")), meter)


def parse_price_sheet(data: Any) -> PriceSheet:
    where = "price sheet"
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: not a JSON object")
    if data.get("schema") != PRICES_SCHEMA:
        raise InputError(f"{where}: field 'schema' must be {PRICES_SCHEMA!r}")
    raw_prices = _field(data, "prices", Mapping, where)
    prices = {key: _price(key, raw) for key, raw in raw_prices.items()}
    for key in REQUIRED_PRICES:
        if key not in prices:
            raise InputError(f"{where}: missing price prices.{key}")
    rules = _field(data, "rules", Mapping, where)
    early = _field(rules, "early_deletion_days", Mapping, f"{where}: rules")
    early_days = {
        tier: int(_number(early.get(tier, 0), f"{where}: rules.early_deletion_days.{tier}"))
        for tier in TIERS
    }
    overhead = _field(rules, "archive_overhead_kib", Mapping, f"{where}: rules")
    return PriceSheet(
        region=_field(data, "region", str, where),
        currency=_field(data, "currency", str, where),
        redundancy=_field(data, "redundancy", str, where),
        source=_field(data, "source", str, where),
        retrieved=_field(data, "retrieved", str, where),
        prices=prices,
        early_deletion_days=early_days,
        archive_overhead_hot_kib=_number(
            overhead.get("hot"), f"{where}: rules.archive_overhead_kib.hot"
        ),
        archive_overhead_archive_kib=_number(
            overhead.get("archive"), f"{where}: rules.archive_overhead_kib.archive"
        ),
    )


@dataclass(frozen=True)
class KindOps:
    """Storage calls one event of a kind causes: stage -> service -> op class -> calls."""

    stages: Mapping[str, Mapping[str, Mapping[str, int]]]

    def count(
        self,
        service: str | None = None,
        *,
        stage_prefix: str | None = None,
        op_class: str | None = None,
        exclude_stage_prefix: str | None = None,
    ) -> int:
        total = 0
        for stage, services in self.stages.items():
            if stage_prefix is not None and not stage.startswith(stage_prefix):
                continue
            if exclude_stage_prefix is not None and stage.startswith(exclude_stage_prefix):
                continue
            for name, classes in services.items():
                if service is not None and name != service:
                    continue
                for cls, calls in classes.items():
                    if op_class is None or cls == op_class:
                        total += calls
        return total


@dataclass(frozen=True)
class StorageOps:
    measured: str
    machine: str
    kinds: Mapping[str, KindOps]


def _calls(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}: must be a whole number >= 0")
    return value


def _kind(name: str, raw: Any) -> KindOps:
    where = f"storage ops: kinds.{name}"
    stages = _field(raw, "stages", Mapping, where) if isinstance(raw, Mapping) else None
    if stages is None:
        raise InputError(f"{where}: not an object")
    parsed: dict[str, dict[str, dict[str, int]]] = {}
    for stage, services in stages.items():
        if not isinstance(services, Mapping):
            raise InputError(f"{where}.stages.{stage}: not an object")
        parsed[stage] = {}
        for service, classes in services.items():
            at = f"{where}.stages.{stage}.{service}"
            if service not in SERVICES or not isinstance(classes, Mapping):
                raise InputError(f"{at}: unknown service or not an object")
            for cls in classes:
                if cls not in OP_CLASSES:
                    raise InputError(f"{at}: unknown operation class {cls!r}")
            parsed[stage][service] = {c: _calls(n, f"{at}.{c}") for c, n in classes.items()}
    return KindOps(parsed)


def parse_storage_ops(data: Any) -> StorageOps:
    where = "storage ops"
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: not a JSON object")
    if data.get("schema") != STORAGE_OPS_SCHEMA:
        raise InputError(f"{where}: field 'schema' must be {STORAGE_OPS_SCHEMA!r}")
    kinds = _field(data, "kinds", Mapping, where)
    for kind in KINDS:
        if kind not in kinds:
            raise InputError(f"{where}: missing kinds.{kind}")
    return StorageOps(
        measured=_field(data, "measured", str, where),
        machine=_field(data, "machine", str, where),
        kinds={name: _kind(name, raw) for name, raw in kinds.items()},
    )
