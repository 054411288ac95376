"""Search the archive through the Table index only: single-partition range queries.

Which table answers depends on the facets given:
- message id      -> IndexByMessage, partition = the message
- conversation    -> IndexByParticipant, partition = the customer, RowKeys `c~<business>~~`,
                     time range
- participant     -> IndexByParticipant, partition = the participant, time range
- only a date range -> IndexByDay, one partition per day, newest day first
Direction, type and provider narrow the rows inside the same partition query
(server-side filter on projected columns), so no query ever scans a table.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from admin.connection import AdminError, Archive
from archive.index import (
    conversation_filter,
    days_between,
    odata_literal,
    participant_key,
    range_filter,
    without_keys,
)
from archive.names import (
    TABLE_BY_DAY,
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
)

DEFAULT_PAGE = 25
# A day-only search must be bounded: each day is one partition query.
MAX_DAY_SPAN = 366

# What `provider` an index row can hold (outbound captures are Meta's: sent via the Cloud API).
PROVIDERS = ("meta", "wasender", "twilio", "acs")

COLUMNS = ("timestamp", "event", "direction", "type", "from", "to", "status", "message_id")


def describe_facets(query: object) -> dict[str, Any]:
    """A query's given facets as JSON values (times in ISO-8601): what audit entries hold."""
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in vars(query).items()
        if v is not None
    }


@dataclass(frozen=True)
class SearchQuery:
    participant: str | None = None
    business_id: str | None = None  # with customer_id: a conversation
    customer_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    direction: str | None = None
    type: str | None = None
    message_id: str | None = None
    provider: str | None = None  # meta, wasender, twilio, acs (the index projects it)

    def describe(self) -> dict[str, Any]:
        return describe_facets(self)


@dataclass(frozen=True)
class SearchPage:
    rows: list[dict[str, Any]]
    continuation: str | None
    table: str

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "rows": self.rows, "continuation": self.continuation}


def _narrow(query_filter: str, query: SearchQuery) -> str:
    if query.direction:
        query_filter += f" and direction eq {odata_literal(query.direction)}"
    if query.type:
        query_filter += f" and type eq {odata_literal(query.type)}"
    if query.provider:
        query_filter += f" and provider eq {odata_literal(query.provider)}"
    return query_filter


def encode_page_token(state: dict[str, Any]) -> str:
    raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_page_token(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error):
        raise AdminError("invalid --page token (copy it from the previous page)") from None
    if not isinstance(state, dict):
        raise AdminError("invalid --page token (copy it from the previous page)")
    return state


def _one_page(
    archive: Archive, table: str, query_filter: str, size: int, token: Any
) -> tuple[list[dict[str, Any]], Any]:
    client = archive.tables.get_table_client(table)

    def run() -> tuple[list[dict[str, Any]], Any]:
        pages: Any = client.query_entities(query_filter, results_per_page=size).by_page(
            continuation_token=token
        )
        rows: list[dict[str, Any]] = []
        for page in pages:
            rows = [without_keys(dict(e)) for e in page]
            break
        return rows, pages.continuation_token

    return archive.call("table", f"query table {table}", run)


def _partition(query: SearchQuery) -> tuple[str, str] | None:
    """(table, filter of one partition and the time range), or None for a by-day search."""
    if query.business_id and query.customer_id:
        return TABLE_BY_PARTICIPANT, conversation_filter(
            query.business_id, query.customer_id, query.start, query.end)
    if query.participant:
        return TABLE_BY_PARTICIPANT, range_filter(
            participant_key(query.participant), query.start, query.end)
    return None


def _by_message(archive: Archive, query: SearchQuery) -> SearchPage:
    """Every event of one message: IndexReader walks all pages of the partition."""
    message_id = query.message_id
    assert message_id is not None
    found = archive.call(
        "table", f"query table {TABLE_BY_MESSAGE}",
        lambda: archive.index.by_message(message_id),
    )
    rows = [
        without_keys(r) for r in found
        # The latest-status summary row has no event.
        if "event" in r
        and (not query.direction or r.get("direction") == query.direction)
        and (not query.type or r.get("type") == query.type)
        and (not query.provider or r.get("provider") == query.provider)
    ]
    rows.sort(key=lambda r: str(r.get("timestamp", "")), reverse=True)
    return SearchPage(rows=rows, continuation=None, table=TABLE_BY_MESSAGE)


def _by_days(
    archive: Archive, query: SearchQuery, size: int, continuation: str | None
) -> SearchPage:
    end = query.end or datetime.now(UTC)
    start = query.start or (end - timedelta(days=1))
    days = days_between(start, end)
    if len(days) > MAX_DAY_SPAN:
        raise AdminError(f"a date-only search spans at most {MAX_DAY_SPAN} days; narrow it")
    state = decode_page_token(continuation)
    index = int(state.get("day", 0))
    token = state.get("t")
    rows: list[dict[str, Any]] = []
    while index < len(days) and len(rows) < size:
        query_filter = _narrow(range_filter(days[index], query.start, query.end), query)
        got, token = _one_page(archive, TABLE_BY_DAY, query_filter, size - len(rows), token)
        rows.extend(got)
        if not token:
            index += 1
    next_token = encode_page_token({"day": index, "t": token}) if index < len(days) else None
    return SearchPage(rows=rows, continuation=next_token, table=TABLE_BY_DAY)


def search(
    archive: Archive,
    query: SearchQuery,
    *,
    page_size: int = DEFAULT_PAGE,
    continuation: str | None = None,
) -> SearchPage:
    """One page of results, newest first; pass `continuation` back for the next page."""
    if query.message_id:
        return _by_message(archive, query)
    if bool(query.business_id) != bool(query.customer_id):
        raise AdminError("a conversation search needs both --business and --customer")
    if query.start and query.end and query.start > query.end:
        raise AdminError("--from is after --to")
    partition = _partition(query)
    if partition is None:
        return _by_days(archive, query, page_size, continuation)
    table, partition_filter = partition
    query_filter = _narrow(partition_filter, query)
    token = decode_page_token(continuation).get("t")
    rows, next_token = _one_page(archive, table, query_filter, page_size, token)
    return SearchPage(
        rows=rows,
        continuation=encode_page_token({"t": next_token}) if next_token else None,
        table=table,
    )

