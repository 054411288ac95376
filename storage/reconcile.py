"""The daily raw -> records reconciliation against storage (see archive.reconcile).

Cost, per day reconciled: one list of `raw` for the day, one Get Blob per raw body,
one list per event-day of `records` (5,000 names a call), and two failures-table
queries. It never does a per-event existence check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.index import day_key, failure_entity
from archive.layout import date_prefix
from archive.names import RAW_CONTAINER, RECORDS_CONTAINER, TABLE_FAILURES
from archive.reconcile import DayReport, ExpectedRecord, account, expected_records
from archive.timestamps import from_iso
from storage.index_writer import write_failure

log = logging.getLogger("wa_archive.reconcile")
Progress = Callable[[int], None]


def _day_folder(path: str) -> str:
    return "/".join(path.split("/")[:3]) + "/"


class _RecordNames:
    """Record names per event day, listed once each (a raw body's events share days)."""

    def __init__(self, blobs: BlobServiceClient) -> None:
        self.records = blobs.get_container_client(RECORDS_CONTAINER)
        self.by_folder: dict[str, set[str]] = {}

    def __call__(self, record_path: str) -> bool:
        folder = _day_folder(record_path)
        if folder not in self.by_folder:
            self.by_folder[folder] = {
                blob.name for blob in self.records.list_blobs(name_starts_with=folder)
            }
        return record_path in self.by_folder[folder]


def _explained_instances(tables: TableServiceClient) -> set[str]:
    """Instance ids a `record_failed` or quarantine row already accounts for."""
    table = tables.get_table_client(TABLE_FAILURES)
    found: set[str] = set()
    query = "PartitionKey eq 'record_failed' or PartitionKey eq 'quarantined'"
    for row in table.query_entities(query, select=["detail"]):
        try:
            detail = json.loads(str(row.get("detail") or "{}"))
        except ValueError:
            continue
        if isinstance(detail, dict) and detail.get("instance_id"):
            found.add(str(detail["instance_id"]))
    return found


def _parse_failures(tables: TableServiceClient, raw_path: str, count: int, day: str) -> bool:
    """True when every parse problem of this body has its failures row."""
    table = tables.get_table_client(TABLE_FAILURES)
    for index in range(count):
        ref = f"{raw_path}#{index}"
        rows = table.query_entities(
            "ref eq @ref and day eq @day", parameters={"ref": ref, "day": day},
            select=["ref"],
        )
        if not any(True for _ in rows):
            return False
    return True


def reconcile_day(
    blobs: BlobServiceClient,
    tables: TableServiceClient,
    day: date,
    *,
    write_rows: bool = True,
    progress: Progress | None = None,
) -> DayReport:
    """Check every raw body received on `day`; list each unexplained gap as a failures row."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    report = DayReport(day=day_key(start))
    raw = blobs.get_container_client(RAW_CONTAINER)
    exists = _RecordNames(blobs)
    explained_ids = _explained_instances(tables)
    for blob in raw.list_blobs(name_starts_with=date_prefix(start) + "/", include=["metadata"]):
        metadata = blob.metadata or {}
        received_at = from_iso(metadata.get("received_at", "")) or blob.creation_time or start
        body = raw.download_blob(blob.name).readall()
        expected, problems = expected_records(
            blob.name, metadata.get("source", "meta"), body, received_at, exists
        )
        if problems and not _parse_failures(tables, blob.name, problems, report.day):
            # A body whose problems were never recorded: count it as one missing event.
            expected.append(ExpectedRecord(blob.name, -1, "", ""))

        def explained(item: ExpectedRecord) -> bool:
            return bool(item.instance_id) and item.instance_id in explained_ids

        account(report, expected, lambda path: bool(path) and exists(path), explained)
        if progress:
            progress(report.raw_bodies)
    if write_rows:
        for item in report.missing:
            write_failure(tables, failure_entity(
                "reconcile_missing", day=report.day, ref=f"{item.raw_path}#{item.index}",
                reason="a raw body of this day has an event with no record and no failure row",
                detail={"raw_path": item.raw_path, "index": item.index,
                        "instance_id": item.instance_id, "record_path": item.record_path},
            ))
    log.info(
        "reconciled day=%s raw=%d events=%d recorded=%d explained=%d missing=%d",
        report.day, report.raw_bodies, report.events, report.recorded, report.explained,
        len(report.missing),
    )
    return report
