"""The Flags table: writing a flag row, and one page of a lexicon backfill.

A flag row's key is deterministic (archive.flags: the record's provider day, and a hash
of the record path and policy version), so it is written create-if-absent: a retried
activity, a redelivered event or a second backfill finds the row and leaves it as the
first writer made it (its ``flagged_at`` and ``source`` stay the original ones). Rows are
never updated afterwards; review decisions live elsewhere (archive.flags).

A backfill page lists up to PAGE_SIZE names of one provider day in `records`, skips by
name what the lexicon never reads (statuses, reactions, deletes, calls, system and
unknown events, conflict siblings: the name carries the event), reads the rest one blob
each, and flags those with hits under the exact policy version asked for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.flags import flag_entity
from archive.layout import date_prefix
from archive.lexicon.record_fields import READ_EVENTS
from archive.names import AUDIT_CONTAINER, RECORDS_CONTAINER, TABLE_FLAGS
from storage.lexicon_store import ActivePolicy, compiled_version

log = logging.getLogger("wa_archive.flags")

PAGE_SIZE = 500
# The backfill orchestration (orchestrations.lexicon_backfill); each name is also its
# function's def name, since Durable calls activities by function name. Here, not there,
# so the CLI can start one without importing the Durable SDK.
BACKFILL_ORCHESTRATOR = "lexicon_backfill"
BACKFILL_ACTIVITY = "lexicon_backfill_page"
MAX_BACKFILL_DAYS = 3660  # ten years: a typo in --from must not start a century of listings


class BackfillInputError(ValueError):
    """A version or day range the backfill cannot run."""


def backfill_instance_id(version: int, from_day: date, to_day: date) -> str:
    """ASCII, under 100 characters, no ``/ \\ ? #``: a valid Durable instance id."""
    return f"lexicon-backfill-v{version}-{from_day.isoformat()}-{to_day.isoformat()}"


def backfill_input(version: int, from_day: date, to_day: date) -> dict[str, Any]:
    """The orchestration's input, checked: a stored version number and a sane range."""
    if not 1 <= version <= 999_999:
        raise BackfillInputError("a policy version is a number from 1 to 999999")
    if to_day < from_day:
        raise BackfillInputError("--to is before --from")
    if (to_day - from_day).days + 1 > MAX_BACKFILL_DAYS:
        raise BackfillInputError(f"at most {MAX_BACKFILL_DAYS} days per backfill")
    return {"version": version, "from_day": from_day.isoformat(), "to_day": to_day.isoformat()}


def write_flag(tables: TableServiceClient, entity: dict[str, Any]) -> bool:
    """Create the flag row unless it exists; True when this call created it. One call.

    Any other failure (table unreachable, missing) raises: the caller's activity retries,
    and the record it flags is already stored create-only, so nothing is lost meanwhile.
    """
    try:
        tables.get_table_client(TABLE_FLAGS).create_entity(entity)
    except ResourceExistsError:
        return False
    return True


def flag_record(
    tables: TableServiceClient, policy: ActivePolicy, record: dict[str, Any], record_path: str,
    *, source: str, now: datetime,
) -> dict[str, Any] | None:
    """Evaluate ``record``; with hits, write its flag row. Counts only (never the words).

    No hits: no storage call at all.
    """
    hits = policy.compiled.evaluate(record)
    if not hits:
        return None
    entity = flag_entity(record, record_path, version=policy.version,
                         policy_sha256=policy.sha256, hits=hits, source=source,
                         flagged_at=now)
    created = write_flag(tables, entity)
    return {"version": policy.version, "rules": len(json.loads(entity["rules"])),
            "hits": sum(len(found) for found in hits.values()), "created": created}


def readable_record_name(name: str) -> bool:
    """Can the lexicon find anything in the record of this blob name? Decided without
    reading it: ``<epoch>-<event>-<direction>...json`` (archive.layout)."""
    base = name.rsplit("/", 1)[-1]
    if not base.endswith(".json") or ".conflict-" in base:
        return False  # a conflict sibling: the first version is the one flagged
    parts = base.split("-")
    return len(parts) >= 3 and parts[1] in READ_EVENTS


@dataclass(frozen=True)
class BackfillPage:
    listed: int  # names listed on this page
    read: int  # records read and evaluated
    flagged: int  # records with hits (row created now or found from an earlier run)
    created: int  # flag rows this page created
    next_marker: str | None  # None: the day is done

    def to_dict(self) -> dict[str, Any]:
        return {"listed": self.listed, "read": self.read, "flagged": self.flagged,
                "created": self.created, "next_marker": self.next_marker}


def day_prefix(day: date) -> str:
    return date_prefix(datetime(day.year, day.month, day.day, tzinfo=UTC)) + "/"


def backfill_page(
    blobs: BlobServiceClient, tables: TableServiceClient, *, version: int, day: date,
    marker: str | None, now: datetime, page_size: int = PAGE_SIZE,
) -> BackfillPage:
    """One page of one provider day, flagged under policy ``version`` (not the active one).

    Raises when the version does not check out (archive.flags / storage.lexicon_store):
    a backfill never flags with a policy whose stored sha256 does not match.
    """
    policy = compiled_version(blobs.get_container_client(AUDIT_CONTAINER), version)
    records = blobs.get_container_client(RECORDS_CONTAINER)
    # The page iterator carries the next marker, though by_page() is typed as a plain Iterator.
    pages: Any = records.list_blobs(name_starts_with=day_prefix(day),
                                    results_per_page=page_size).by_page(continuation_token=marker)
    names = [blob.name for blob in next(pages, [])]
    next_marker = pages.continuation_token or None
    read = flagged = created = 0
    for name in names:
        if not readable_record_name(name):
            continue
        record = json.loads(records.download_blob(name).readall())
        read += 1
        outcome = flag_record(tables, policy, record, name, source="backfill", now=now)
        if outcome is not None:
            flagged += 1
            created += int(outcome["created"])
    log.info("lexicon backfill page version=%d listed=%d read=%d flagged=%d created=%d",
             version, len(names), read, flagged, created)
    return BackfillPage(len(names), read, flagged, created, next_marker)


def flag_keys_of_day(tables: TableServiceClient, day: date) -> dict[str, list[tuple[str, str]]]:
    """``record path -> [(PartitionKey, RowKey)]`` of one provider day's flag rows.

    Retention deletes a disposed record's flags with its index rows: a flag names the
    matched words, which must not outlive the record. One query per day (flags are few);
    only the keys and the record path are fetched.
    """
    client = tables.get_table_client(TABLE_FLAGS)
    found: dict[str, list[tuple[str, str]]] = {}
    rows = client.query_entities(f"PartitionKey eq '{day.isoformat()}'",
                                 select=["PartitionKey", "RowKey", "record_path"])
    for row in rows:
        path = row.get("record_path")
        if isinstance(path, str):
            found.setdefault(path, []).append((str(row["PartitionKey"]), str(row["RowKey"])))
    return found
