"""Read the Table index: every query is one partition and a RowKey range, never a scan.

Used by the pipeline's tests, the CLI and the admin TUI. Rows come back as plain
dicts with the projected columns of archive.index (ids, times, record_path, status);
the record itself is read from the `records` container by its path.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from azure.data.tables import TableServiceClient

from archive.encoding import join_segments, key_segment
from archive.index import (
    LATEST_STATUS_ROW,
    conversation_filter,
    message_key,
    odata_literal,
    participant_key,
    range_filter,
)
from archive.names import (
    TABLE_BY_DAY,
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
    TABLE_FAILURES,
)

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    continuation: str | None  # opaque; pass back to get the next page, None at the end


def conversation_key(business_id: str, customer_id: str) -> str:
    """A conversation's key, as CanonicalEvent.conversation_key() spells it (records, exports).

    Not an index partition: a conversation's rows sit in its customer's by-participant
    partition (archive.index.conversation_filter).
    """
    return join_segments(key_segment(business_id), key_segment(customer_id))


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    raw = json.dumps(token, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_token(token: str | None) -> dict[str, str] | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error):
        raise ValueError("invalid continuation token") from None
    if not isinstance(data, dict):
        raise ValueError("invalid continuation token")
    return {str(k): str(v) for k, v in data.items()}


class IndexReader:
    def __init__(self, tables: TableServiceClient) -> None:
        self._tables = tables

    def _page(
        self, table: str, query_filter: str, page_size: int, continuation: str | None
    ) -> Page:
        client = self._tables.get_table_client(table)
        # The Tables pager takes and gives a dict token although ItemPaged is typed with str.
        token: Any = _decode_token(continuation)
        pages: Any = client.query_entities(query_filter, results_per_page=page_size).by_page(
            continuation_token=token
        )
        rows: list[dict[str, Any]] = []
        for page in pages:
            rows = [dict(entity) for entity in page]
            break
        return Page(rows=rows, continuation=_encode_token(pages.continuation_token))

    def _all(self, table: str, query_filter: str) -> list[dict[str, Any]]:
        client = self._tables.get_table_client(table)
        return [dict(entity) for entity in client.query_entities(query_filter)]

    def by_message(self, message_id: str) -> list[dict[str, Any]]:
        """Every event of one message (message, statuses, edits...) plus its latest-status row."""
        return self._all(TABLE_BY_MESSAGE,
                         f"PartitionKey eq {odata_literal(message_key(message_id))}")

    def latest_status(self, message_id: str) -> dict[str, Any] | None:
        rows = [r for r in self.by_message(message_id) if r.get("RowKey") == LATEST_STATUS_ROW]
        return rows[0] if rows else None

    def by_participant(
        self,
        participant: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation: str | None = None,
    ) -> Page:
        """One participant's events, newest first, within [start, end]."""
        query = range_filter(participant_key(participant), start, end)
        return self._page(TABLE_BY_PARTICIPANT, query, page_size, continuation)

    def by_conversation(
        self,
        business_id: str,
        customer_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation: str | None = None,
    ) -> Page:
        """One conversation's events, newest first: the customer's partition, `c~` rows."""
        query = conversation_filter(business_id, customer_id, start, end)
        return self._page(TABLE_BY_PARTICIPANT, query, page_size, continuation)

    def by_day(
        self,
        day: date | str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation: str | None = None,
    ) -> Page:
        """Every event (statuses included) whose provider time falls on `day` (UTC)."""
        key = day if isinstance(day, str) else day.isoformat()
        return self._page(
            TABLE_BY_DAY, f"PartitionKey eq {odata_literal(key)}", page_size, continuation
        )

    def failures(
        self,
        kind: str,
        *,
        since_day: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation: str | None = None,
    ) -> Page:
        """Failures of one kind (media_unavailable, conflict, unparseable, webhook_error)."""
        query = f"PartitionKey eq {odata_literal(kind)}"
        if since_day:
            query += f" and RowKey ge {odata_literal(since_day)}"
        return self._page(TABLE_FAILURES, query, page_size, continuation)
