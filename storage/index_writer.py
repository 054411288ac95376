"""Write the Table index rows of a stored record, the failures table, and the latest status.

Index rows have deterministic keys (archive.index), so writing them again after a
crash or a duplicate delivery is harmless (upsert MERGE). Rows that share a table and
a partition go in one transaction (archive.index.partition_groups): a text message's
five rows are four calls, the customer's participant row and the conversation row
sharing one.

The latest status per message lives on one summary row per message in the by-message
table, the partition of the status's own by-message row. It is updated with
read-compare-write under an ETag, so concurrent and out-of-order statuses never make
it regress: one read of the summary row, then ONE transaction holding the status's
by-message row and, if the status wins, the summary row's create (absent) or
replace with If-Match (present). A concurrent writer makes the whole transaction fail
(412 or 409, nothing of it applied), and the round starts again with a fresh read.

Keyword search's marker: records archived before term rows existed have none, so a
search must scan those days (admin.text_search). The first time a process writes term
rows it creates ``(TERM_MARKER_PARTITION, TERM_MARKER_ROW)`` in IndexByTerm with the UTC
day of that moment, create-only: the earliest writer's day stays. One call per process.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import (
    TableClient,
    TableServiceClient,
    TableTransactionError,
    TransactionOperation,
    UpdateMode,
)

from archive.index import (
    MAX_BATCH_OPS,
    index_entities,
    latest_status_entity,
    latest_status_of,
    latest_status_wins,
    partition_groups,
)
from archive.names import TABLE_BY_MESSAGE, TABLE_BY_TERM, TABLE_FAILURES

_MAX_ETAG_ROUNDS = 20
# What a transaction answers when the latest-status row changed under it: the If-Match
# failed (412), a concurrent create won (409), or the row went away (404).
_LOST_RACE = frozenset({404, 409, 412})

# A term never holds "~" (archive.text_index), so the marker's partition is no word's;
# retention deletes rows by a record's keys, so it never deletes the marker.
TERM_MARKER_PARTITION = "~meta"
TERM_MARKER_ROW = "since"
_term_marker_written = False  # per process: the marker costs one call, not one per event
# A record's term rows are one upsert per word (one partition each); sent side by side so
# a 20-word message waits for about one round trip, not twenty. Shared by the process.
_TERM_WRITERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="term-rows")

Operation = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], dict[str, Any]]


class IndexConflictError(RuntimeError):
    """The latest-status row kept changing under us; the activity will be retried."""


def _upserts(rows: list[dict[str, Any]]) -> list[Operation]:
    return [(TransactionOperation.UPSERT, row, {"mode": UpdateMode.MERGE}) for row in rows]


def _send(table: TableClient, operations: list[Operation]) -> None:
    """One call: a single upsert as itself, several as one transaction."""
    if len(operations) == 1 and operations[0][0] == TransactionOperation.UPSERT:
        table.upsert_entity(operations[0][1], mode=UpdateMode.MERGE)
        return
    table.submit_transaction(operations)


def _status_round(
    table: TableClient, row: dict[str, Any], candidate: Any, others: list[Operation]
) -> bool | None:
    """One read-compare-write round; True won, False lost, None: changed under us, again.

    `others` (upserts in the row's partition) go in the same call either way.
    """
    try:
        current: Any = table.get_entity(row["PartitionKey"], row["RowKey"])
    except ResourceNotFoundError:
        current = None
    if current is not None and not latest_status_wins(latest_status_of(dict(current)), candidate):
        if others:
            _send(table, others)
        return False
    status: Operation = (TransactionOperation.CREATE, row) if current is None else (
        TransactionOperation.UPDATE, row,
        {"mode": UpdateMode.REPLACE, "etag": current.metadata["etag"],
         "match_condition": MatchConditions.IfNotModified},
    )
    try:
        if others:
            # All or nothing: a lost race applies none of it, and the next round redoes it.
            table.submit_transaction([*others, status])
        elif current is None:
            table.create_entity(row)
        else:
            table.update_entity(row, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                match_condition=MatchConditions.IfNotModified)
    except TableTransactionError as exc:
        if exc.status_code in _LOST_RACE and getattr(exc, "error_code", None) != "TableNotFound":
            return None
        raise
    except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
        return None
    return True


def _with_latest_status(
    table: TableClient, row: dict[str, Any], others: list[Operation]
) -> bool:
    candidate = latest_status_of(row)
    if candidate is None:
        if others:
            _send(table, others)
        return False
    for _ in range(_MAX_ETAG_ROUNDS):
        won = _status_round(table, row, candidate, others)
        if won is not None:
            return won
    raise IndexConflictError("latest-status row kept changing; giving up this attempt")


def _ensure_term_marker(tables: TableServiceClient) -> None:
    """Create the marker once per process (it may already exist: keep the earliest day)."""
    global _term_marker_written
    if _term_marker_written:
        return
    marker = {"PartitionKey": TERM_MARKER_PARTITION, "RowKey": TERM_MARKER_ROW,
              "day": datetime.now(UTC).strftime("%Y-%m-%d")}
    with suppress(ResourceExistsError):
        tables.get_table_client(TABLE_BY_TERM).create_entity(marker)
    _term_marker_written = True


def write_index(
    tables: TableServiceClient, record: dict[str, Any], record_path: str
) -> tuple[int, bool]:
    """Every index row of `record`, and its latest status if it is a status (or call).

    One call per (table, partition), at most 100 rows each; the latest-status row
    rides in the transaction of its partition (the record's by-message row), after one
    read of it. Term rows (one partition per word) are sent in parallel. Returns (index
    rows written, whether this record is now the shown status). Raises
    IndexConflictError when the status row kept changing, or a term row's failure.
    """
    status_row = latest_status_entity(record, record_path)
    written = 0
    won = False
    entities = index_entities(record, record_path)
    if entities.get(TABLE_BY_TERM):
        # Before the term rows: a search never trusts a day whose rows may be incomplete.
        _ensure_term_marker(tables)
    groups = partition_groups(entities)
    terms = [rows for table_name, _, rows in groups if table_name == TABLE_BY_TERM]
    sent = [_TERM_WRITERS.submit(_send, tables.get_table_client(TABLE_BY_TERM), _upserts(rows))
            for rows in terms]
    for table_name, partition, rows in groups:
        if table_name == TABLE_BY_TERM:
            continue
        table = tables.get_table_client(table_name)
        carries_status = (
            status_row is not None
            and table_name == TABLE_BY_MESSAGE
            and partition == status_row["PartitionKey"]
        )
        # Room for the status operation in the first chunk of its partition.
        size = MAX_BATCH_OPS - 1 if carries_status else MAX_BATCH_OPS
        chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
        for number, chunk in enumerate(chunks):
            if carries_status and number == 0:
                assert status_row is not None
                won = _with_latest_status(table, status_row, _upserts(chunk))
                status_row = None
            else:
                _send(table, _upserts(chunk))
            written += len(chunk)
    if status_row is not None:
        # No by-message row in its partition (cannot happen for a record; kept safe).
        won = _with_latest_status(tables.get_table_client(TABLE_BY_MESSAGE), status_row, [])
    for future, rows in zip(sent, terms, strict=True):
        future.result()  # the first failure raises: the activity retries (upserts repeat)
        written += len(rows)
    return written, won


def write_index_rows(tables: TableServiceClient, record: dict[str, Any], record_path: str) -> int:
    """Upsert every index row of `record` (latest status included); returns the row count."""
    return write_index(tables, record, record_path)[0]


def write_failure(tables: TableServiceClient, entity: dict[str, Any]) -> None:
    tables.get_table_client(TABLE_FAILURES).upsert_entity(entity, mode=UpdateMode.MERGE)


def update_latest_status(
    tables: TableServiceClient, record: dict[str, Any], record_path: str
) -> bool:
    """Make this status record the message's shown status unless a later one is recorded.

    Returns True when it won. Read-compare-write with If-Match, so two statuses of one
    message racing in parallel activities cannot both win, and a late `delivered`
    never replaces `read`. (write_index does this in the same transaction as the
    record's by-message row; this is the status row alone.)
    """
    row = latest_status_entity(record, record_path)
    if row is None:
        return False
    return _with_latest_status(tables.get_table_client(TABLE_BY_MESSAGE), row, [])
