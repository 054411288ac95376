"""`wa-archive status`: measure the archive cheaply, then judge it with archive.health.

What is read (all reads; nothing is dequeued, nothing is audited, so a cron job every
minute leaves no trace):

- queue depths (approximate count, one call per queue) and a peek at `ingest`'s first
  message for its insertion time (admin.backlog);
- open IndexFailures rows, one partition per kind, counted up to a cap; the
  `deadletter` kind is the dead-letter depth (drained poison messages not yet
  replayed: the `deadletter` blobs themselves are WORM and stay after a replay);
- one listing of `seals/daily/` with metadata (day, kind, creation time);
- the newest verification report (`seals/verification/<day>/report.json`), looked for
  in this month's and last month's runs first (a short listing), else in all of them;
- the first row (newest provider time) of today's IndexByDay partition, else
  yesterday's, for when the archive last wrote a record (its Table Timestamp);
- the Holds table (a handful of rows).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.backlog import backlog, queue_depth
from admin.connection import Archive, settings_file_values
from admin.dashboard import COUNT_CAP, partition_count
from admin.failures import DEADLETTER_KIND, FAILURE_KINDS
from archive.health import (
    DEFAULT_SEAL_SCHEDULE,
    Health,
    Observations,
    SealSeen,
    Thresholds,
    VerificationSeen,
    evaluate,
)
from archive.index import day_key
from archive.names import (
    INGEST_POISON_QUEUE,
    INGEST_QUEUE,
    QUEUES,
    SEALS_CONTAINER,
    SETTING_SEAL_SCHEDULE,
    TABLE_BY_DAY,
    TABLE_FAILURES,
)
from archive.seal import SEAL_PREFIX, parse_seal_name
from storage.blobs import read_blob
from storage.holds import HoldStore
from storage.verification_run import VERIFICATION_PREFIX, latest_report


def seal_schedule(folder: Path | None = None) -> str:
    """The seal timer's NCRONTAB: $SEAL_SCHEDULE, else the dev settings file, else default."""
    configured = os.environ.get(SETTING_SEAL_SCHEDULE, "").strip()
    if configured:
        return configured
    values = settings_file_values(folder) or {}
    return str(values.get(SETTING_SEAL_SCHEDULE) or DEFAULT_SEAL_SCHEDULE)


def _parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _seals(archive: Archive) -> tuple[SealSeen | None, frozenset[str]]:
    container = archive.container(SEALS_CONTAINER)

    def load() -> tuple[SealSeen | None, frozenset[str]]:
        last: SealSeen | None = None
        days: set[str] = set()
        try:
            for blob in container.list_blobs(name_starts_with=SEAL_PREFIX, include=["metadata"]):
                seq = parse_seal_name(blob.name)
                if seq is None:
                    continue
                meta = blob.metadata or {}
                day = meta.get("day")
                if day:
                    days.add(day)
                if last is None or seq > last.seq:
                    written = blob.creation_time or blob.last_modified
                    last = SealSeen(day or "?", written, seq, meta.get("kind"))
        except ResourceNotFoundError:
            return None, frozenset()
        return last, frozenset(days)

    return archive.call("blob", "list the seals", load)


def _recent_report(archive: Archive, at: datetime) -> dict[str, Any] | None:
    """The newest report of this month or the last: a short listing on an old archive."""
    seals = archive.container(SEALS_CONTAINER)
    this_month = at.replace(day=1)
    for month in (this_month, (this_month - timedelta(days=1)).replace(day=1)):
        prefix = f"{VERIFICATION_PREFIX}{month:%Y-%m}-"
        names = sorted(
            b.name
            for b in seals.list_blobs(name_starts_with=prefix)
            if b.name.endswith("/report.json")
        )
        if names:
            value = json.loads(read_blob(seals, names[-1]))
            return value if isinstance(value, dict) else None
    return None


def _verification(archive: Archive, at: datetime) -> VerificationSeen | None:
    def load() -> dict[str, Any] | None:
        try:
            return _recent_report(archive, at) or latest_report(archive.blobs)
        except ResourceNotFoundError:
            return None

    report = archive.call("blob", "read the verification reports", load)
    if report is None:
        return None
    return VerificationSeen(
        run=str(report.get("run") or "?"),
        ok=report.get("ok") is True,
        at=_parse_time(report.get("at")),
        findings=int(report.get("findings") or 0),
    )


def _newest_record(archive: Archive, at: datetime) -> datetime | None:
    table = archive.tables.get_table_client(TABLE_BY_DAY)

    def load() -> datetime | None:
        for day in (at, at - timedelta(days=1)):
            query = "PartitionKey eq '" + day_key(day) + "'"
            try:
                # Newest provider time first: one row of one page is enough.
                for row in table.query_entities(
                    query, select=["RowKey", "Timestamp"], results_per_page=1
                ):
                    stamp = row.metadata.get("timestamp")
                    return stamp if isinstance(stamp, datetime) else None
            except ResourceNotFoundError:
                return None
        return None

    return archive.call("table", f"read table {TABLE_BY_DAY}", load)


def _holds_in_force(archive: Archive) -> int:
    store = HoldStore(archive.tables)
    return len(archive.call("table", "read the Holds table", store.in_force))


def observe(archive: Archive, at: datetime) -> Observations:
    queued = backlog(archive, at)
    depths = {INGEST_QUEUE: queued.ingest_depth, INGEST_POISON_QUEUE: queued.poison_depth}
    for name in QUEUES:
        if name not in depths:
            depths[name] = queue_depth(archive, name)
    counts = {
        kind: partition_count(archive, TABLE_FAILURES, kind, open_only=True)
        for kind in FAILURE_KINDS
    }
    deadletter = counts.pop(DEADLETTER_KIND, 0)
    last_seal, sealed_days = _seals(archive)
    return Observations(
        queue_depths=depths,
        ingest_oldest=_parse_time(queued.oldest_inserted_on),
        deadletter_open=deadletter,
        failures=counts,
        failures_capped=any(n >= COUNT_CAP for n in counts.values()),
        last_seal=last_seal,
        sealed_days=sealed_days,
        last_verification=_verification(archive, at),
        newest_record_written=_newest_record(archive, at),
        holds_in_force=_holds_in_force(archive),
    )


def status(
    archive: Archive, at: datetime | None = None, thresholds: Thresholds | None = None
) -> Health:
    """Measure now (or at `at`, for tests) and evaluate."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return evaluate(observe(archive, moment), moment, thresholds)
