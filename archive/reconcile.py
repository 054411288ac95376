"""Raw -> records reconciliation: which events of a raw body have no record (pure).

Every raw body the worker accepted must end as records, one per canonical event,
or as failures rows that say why not (a body that does not parse, a record that
failed, a quarantine). What is left after that is a silent loss, the one thing a
compliance archive must never have; the daily job lists each as `reconcile_missing`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from archive.identity import event_instance_id
from archive.layout import record_blob_name
from archive.parsing import Parsed, parse_eras


@dataclass(frozen=True)
class ExpectedRecord:
    raw_path: str
    index: int
    instance_id: str
    record_path: str


@dataclass
class DayReport:
    day: str
    raw_bodies: int = 0
    events: int = 0
    recorded: int = 0
    explained: int = 0  # no record, but a failures row says why
    missing: list[ExpectedRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"day": self.day, "raw_bodies": self.raw_bodies, "events": self.events,
                "recorded": self.recorded, "explained": self.explained,
                "missing": len(self.missing)}


def expected_records(
    raw_path: str,
    source: str,
    body: bytes,
    received_at: datetime,
    exists: Callable[[str], bool] | None = None,
) -> tuple[list[ExpectedRecord], int]:
    """The records one raw body should have produced, and how many parse problems it had.

    A body archived by an earlier parser version (see archive.parsing.parse_eras) is
    judged by that era when all of that era's records exist and today's do not.
    """
    eras = parse_eras(source, body, received_at)
    parsed = eras[0]
    if exists is not None and not _all_exist(parsed, exists):
        parsed = next((era for era in eras[1:] if _all_exist(era, exists)), parsed)
    expected = [
        ExpectedRecord(raw_path, index, event_instance_id(event), record_blob_name(event))
        for index, event in enumerate(parsed.events)
    ]
    return expected, len(parsed.problems)


def _all_exist(parsed: Parsed, exists: Callable[[str], bool]) -> bool:
    return bool(parsed.events) and all(exists(record_blob_name(e)) for e in parsed.events)


def account(
    report: DayReport,
    expected: Iterable[ExpectedRecord],
    exists: Callable[[str], bool],
    explained: Callable[[ExpectedRecord], bool],
) -> None:
    """Add one raw body's expected records to the report."""
    report.raw_bodies += 1
    for item in expected:
        report.events += 1
        if exists(item.record_path):
            report.recorded += 1
        elif explained(item):
            report.explained += 1
        else:
            report.missing.append(item)
