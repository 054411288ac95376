"""The dashboard numbers: backlog, today's records, and open gaps and conflicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from admin.backlog import Backlog, backlog
from admin.connection import Archive
from admin.failures import FAILURE_KINDS
from archive.names import TABLE_BY_DAY, TABLE_FAILURES

# Counting walks one partition; stop at a cap so a busy day stays a quick refresh.
COUNT_CAP = 5000


@dataclass(frozen=True)
class Dashboard:
    backlog: Backlog
    day: str
    records_today: int  # index rows of today's partition (events incl. statuses), capped
    failures: dict[str, int]  # per failures-table kind, capped
    capped: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _count(archive: Archive, table: str, partition: str) -> int:
    client = archive.tables.get_table_client(table)

    def run() -> int:
        count = 0
        query = "PartitionKey eq '" + partition.replace("'", "''") + "'"
        for _ in client.query_entities(query, select=["RowKey"], results_per_page=1000):
            count += 1
            if count >= COUNT_CAP:
                break
        return count

    return archive.call("table", f"count rows in {table}", run)


def dashboard(archive: Archive, now: datetime | None = None) -> Dashboard:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    day = now.strftime("%Y-%m-%d")
    records = _count(archive, TABLE_BY_DAY, day)
    failures: dict[str, int] = {
        kind: _count(archive, TABLE_FAILURES, kind) for kind in FAILURE_KINDS
    }
    capped = records >= COUNT_CAP or any(v >= COUNT_CAP for v in failures.values())
    return Dashboard(
        backlog=backlog(archive, now),
        day=day,
        records_today=records,
        failures=failures,
        capped=capped,
    )
