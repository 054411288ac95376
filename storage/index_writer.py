"""Write the Table index rows of a stored record, the failures table, and the latest status.

Index rows have deterministic keys (archive.index), so writing them again after a
crash or a duplicate delivery is harmless (upsert MERGE). The latest status per
message lives on one summary row per message in the by-message table and is
updated with read-compare-write under an ETag, so concurrent and out-of-order
statuses never make it regress.
"""

from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableServiceClient, UpdateMode

from archive.index import (
    index_entities,
    latest_status_entity,
    latest_status_of,
    latest_status_wins,
)
from archive.names import TABLE_BY_MESSAGE, TABLE_FAILURES

_MAX_ETAG_ROUNDS = 20


class IndexConflictError(RuntimeError):
    """The latest-status row kept changing under us; the activity will be retried."""


def write_index_rows(tables: TableServiceClient, record: dict[str, Any], record_path: str) -> int:
    """Upsert every index row of `record`; returns how many rows were written."""
    written = 0
    for table_name, entities in index_entities(record, record_path).items():
        table = tables.get_table_client(table_name)
        for entity in entities:
            table.upsert_entity(entity, mode=UpdateMode.MERGE)
            written += 1
    return written


def write_failure(tables: TableServiceClient, entity: dict[str, Any]) -> None:
    tables.get_table_client(TABLE_FAILURES).upsert_entity(entity, mode=UpdateMode.MERGE)


def update_latest_status(
    tables: TableServiceClient, record: dict[str, Any], record_path: str
) -> bool:
    """Make this status record the message's shown status unless a later one is recorded.

    Returns True when it won. Read-compare-write with If-Match, so two statuses of one
    message racing in parallel activities cannot both win, and a late `delivered`
    never replaces `read`.
    """
    row = latest_status_entity(record, record_path)
    if row is None:
        return False
    candidate = latest_status_of(row)
    if candidate is None:
        return False
    table = tables.get_table_client(TABLE_BY_MESSAGE)
    for _ in range(_MAX_ETAG_ROUNDS):
        try:
            current = table.get_entity(row["PartitionKey"], row["RowKey"])
        except ResourceNotFoundError:
            try:
                table.create_entity(row)
            except ResourceExistsError:
                continue
            return True
        if not latest_status_wins(latest_status_of(dict(current)), candidate):
            return False
        try:
            table.update_entity(
                row,
                mode=UpdateMode.REPLACE,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            continue
        return True
    raise IndexConflictError("latest-status row kept changing; giving up this attempt")
