"""Every indexed record in a scope, through the Table index (no container scans).

Used by legal holds (which blobs to hold, which to release) and by exports (what goes
into a production). The participant and conversation tables leave statuses out (they
would flood the timelines), so each message found there is completed from its by-message
partition: the message, its statuses, edits and reactions. Every row goes through
`Scope.covers`, so what is yielded is exactly what the pure rule says the scope holds.

Conflict siblings (`<record>.conflict-<sha>.json`) are not indexed; callers that must
reach every blob (holds) list the record's folder as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azure.data.tables import TableServiceClient

from archive.index import (
    conversation_filter,
    days_between,
    odata_literal,
    participant_key,
    range_filter,
    without_keys,
)
from archive.names import TABLE_BY_DAY, TABLE_BY_PARTICIPANT
from archive.scope import Scope
from storage.index_reader import IndexReader

# Statuses of a message the archive never saw sent (sent by another system, no outbound
# capture) are in no participant or conversation partition. With a bounded range, the
# by-day partitions of that range are asked for them too; beyond this span it is not.
MAX_STATUS_SCAN_DAYS = 366


def _message_rows(reader: IndexReader, scope: Scope, message_id: str) -> list[dict[str, Any]]:
    rows = [
        without_keys(r) for r in reader.by_message(message_id)
        # The latest-status summary row has no event: it is not a record.
        if "event" in r and r.get("record_path")
    ]
    return [r for r in rows if scope.covers(r)]


def _orphan_status_filter(scope: Scope, day: str) -> str:
    if scope.business_id and scope.customer_id:
        who = (f"business_id eq {odata_literal(scope.business_id)}"
               f" and customer_id eq {odata_literal(scope.customer_id)}")
    else:
        p = odata_literal(str(scope.participant))
        who = (f"(customer_id eq {p} or business_id eq {p} or from eq {p} or to eq {p})")
    return f"PartitionKey eq {odata_literal(day)} and event eq 'status' and {who}"


def index_rows_in_scope(tables: TableServiceClient, scope: Scope) -> Iterator[dict[str, Any]]:
    """Index rows (record@1 projection with `record_path`) of every record in `scope`.

    Each record once. Order: as the index gives it (newest first per partition), then
    each message's other events; callers that need time order sort by `timestamp`.
    """
    reader = IndexReader(tables)
    if scope.message_id:
        yield from _message_rows(reader, scope, scope.message_id)
        return
    # A conversation's rows sit in its customer's by-participant partition (`c~` RowKeys).
    if scope.business_id and scope.customer_id:
        query = conversation_filter(
            scope.business_id, scope.customer_id, scope.start_time(), scope.end_time())
    else:
        assert scope.participant is not None
        query = range_filter(
            participant_key(scope.participant), scope.start_time(), scope.end_time())
    seen_paths: set[str] = set()
    seen_messages: set[str] = set()
    client = tables.get_table_client(TABLE_BY_PARTICIPANT)
    for entity in client.query_entities(query):
        row = without_keys(dict(entity))
        path = str(row.get("record_path") or "")
        if path and path not in seen_paths and scope.covers(row):
            seen_paths.add(path)
            yield row
        message_id = row.get("message_id")
        if not isinstance(message_id, str) or message_id in seen_messages:
            continue
        seen_messages.add(message_id)
        for other in _message_rows(reader, scope, message_id):
            other_path = str(other["record_path"])
            if other_path not in seen_paths:
                seen_paths.add(other_path)
                yield other
    start, end = scope.start_time(), scope.end_time()
    if start is None or end is None:
        return
    days = days_between(start, end)
    if len(days) > MAX_STATUS_SCAN_DAYS:
        return
    by_day = tables.get_table_client(TABLE_BY_DAY)
    for day in days:
        for entity in by_day.query_entities(_orphan_status_filter(scope, day)):
            row = without_keys(dict(entity))
            path = str(row.get("record_path") or "")
            if path and path not in seen_paths and scope.covers(row):
                seen_paths.add(path)
                yield row
