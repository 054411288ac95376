"""The dashboard numbers: backlog, today's records, open gaps and conflicts, orchestrations."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from admin.backlog import Backlog, backlog
from admin.connection import Archive
from admin.durable_api import DurableApi, DurableApiError
from admin.failures import FAILURE_KINDS
from archive.names import TABLE_BY_DAY, TABLE_FAILURES

# Counting walks one partition; stop at a cap so a busy day stays a quick refresh.
COUNT_CAP = 5000
ORCHESTRATION_WINDOW = timedelta(hours=24)  # the dashboard's counts; failures look further


@dataclass(frozen=True)
class Dashboard:
    backlog: Backlog
    day: str
    records_today: int  # index rows of today's partition (events incl. statuses), capped
    failures: dict[str, int]  # open rows per failures-table kind, capped
    capped: bool
    # Orchestrations created in the last 24 h per runtime status (None: no Durable API).
    orchestrations: dict[str, int] | None = None
    orchestrations_note: str | None = None  # why they are missing

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def partition_count(
    archive: Archive, table: str, partition: str, *, open_only: bool = False
) -> int:
    client = archive.tables.get_table_client(table)

    def run() -> int:
        count = 0
        query = "PartitionKey eq '" + partition.replace("'", "''") + "'"
        select = ["RowKey", "resolved"] if open_only else ["RowKey"]
        for row in client.query_entities(query, select=select, results_per_page=1000):
            if open_only and row.get("resolved") is True:
                continue  # a recovered media gap: kept as evidence, no longer open
            count += 1
            if count >= COUNT_CAP:
                break
        return count

    return archive.call("table", f"count rows in {table}", run)


def dashboard(
    archive: Archive, now: datetime | None = None, durable: DurableApi | None = None
) -> Dashboard:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    day = now.strftime("%Y-%m-%d")
    records = partition_count(archive, TABLE_BY_DAY, day)
    failures: dict[str, int] = {
        kind: partition_count(archive, TABLE_FAILURES, kind, open_only=True)
        for kind in FAILURE_KINDS
    }
    orchestrations: dict[str, int] | None = None
    note: str | None = "Durable API not configured (WA_DURABLE_API_URL)"
    if durable is not None:
        try:
            orchestrations = durable.counts(now - ORCHESTRATION_WINDOW)
            note = None
        except DurableApiError as exc:
            note = str(exc)
    capped = records >= COUNT_CAP or any(v >= COUNT_CAP for v in failures.values())
    return Dashboard(
        backlog=backlog(archive, now),
        day=day,
        records_today=records,
        failures=failures,
        capped=capped,
        orchestrations=orchestrations,
        orchestrations_note=note,
    )
