"""Table index key design. Every query is a single-partition RowKey range.

Tables (names from :mod:`archive.names`):

- by message:      PK = encoded message id,  RK = ``<event>-<ticks>-<fp16>``; plus one
                   ``latest-status`` row per message (see :func:`latest_status_entity`);
                   a call's id holds its events and its latest call state the same way
- by participant:  PK = encoded participant, RK = ``<inverted ticks>-<message>-<event>-<fp16>``;
                   plus, in the CUSTOMER's partition, one conversation row per event:
                   RK = ``c~<encoded business>~~<inverted ticks>-...`` (see
                   :func:`conversation_filter`), so the customer's row and the conversation
                   row are one transaction (same table and partition)
- by day:          PK = ``YYYY-MM-DD``,       RK = same as by participant
- by term:         PK = the term (a normalised word), RK = same as by day (keyword
                   search; archive.text_index)
- failures:        PK = failure kind,        RK = ``<day>-<sha256(ref)[:32]>``
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from archive.encoding import key_segment
from archive.events import CALL_EVENT, call_facts
from archive.names import (
    TABLE_BY_DAY,
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
    TABLE_BY_TERM,
    TABLE_FAILURES,
)
from archive.text_index import term_entities
from archive.timestamps import from_iso, require_aware

FAILURES_TABLE = TABLE_FAILURES

FailureKind = Literal[
    "media_unavailable",
    "conflict",
    "unparseable",
    "webhook_error",
    # A body that failed re-verification in the worker (kept in `quarantine`).
    "quarantined",
    # A poison message drained into `deadletter` so it never ages out.
    "deadletter",
    # A raw body of a day without all of its records and no other explanation.
    "reconcile_missing",
    # store_record exhausted its retries: the orchestration fails after this row.
    "record_failed",
    # The daily verification found a blob, seal or day that does not match the seals.
    "verification_failed",
]
LATEST_STATUS_ROW = "latest-status"
# Conversation rows live in the customer's by-participant partition under this prefix.
# "c" sorts after every digit, so a participant's time range (digit RowKeys, bounded by
# query_bounds) never reaches them, and they never reach it.
CONVERSATION_ROW_PREFIX = "c~"
# A Table batch (entity group transaction) holds at most 100 operations.
MAX_BATCH_OPS = 100
TICKS_WIDTH = 19
_EPOCH_MIN = datetime(1, 1, 1, tzinfo=UTC)
_EPOCH_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
# A Table string property holds at most 64 KiB of UTF-16 (about 32K characters) and an
# entity 1 MiB. A failure row is a diagnostic that points at the evidence (raw body,
# record), so its provider-controlled parts are bounded far below those limits.
MAX_DETAIL_CHARS = 16_000
MAX_REASON_CHARS = 1_000
MAX_REF_CHARS = 256
_REF_PREFIX_CHARS = 160
# A detail field is kept verbatim in an oversized detail only up to this size.
_MAX_KEPT_FIELD_CHARS = 2_000

STATUS_RANK: dict[str, int] = {
    "sent": 1,
    "delivered": 2,
    "read": 3,
    "played": 4,
    "failed": 5,
    "deleted": 6,
}
# A call moves connect < ringing < accepted < an outcome (rejected, failed, completed) and
# ends with terminate, which carries the final status, times and duration whatever it says.
# Statuses are ranked only inside a "status" event; an unknown one ranks 0 (never wins).
CALL_EVENT_RANK: dict[str, int] = {"connect": 1, "terminate": 5}
CALL_STATUS_RANK: dict[str, int] = {
    "ringing": 2,
    "accepted": 3,
    "rejected": 4,
    "failed": 4,
    "completed": 4,
}
# How a call's state is spelled for latest_status_wins: "call:<event>:<status>".
_CALL_STATE_PREFIX = "call:"


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ticks(ts: datetime) -> str:
    """Fixed-width microseconds since 0001-01-01: sorts oldest first."""
    return f"{_micros(require_aware(ts, 'ts') - _EPOCH_MIN):0{TICKS_WIDTH}d}"


def inverted_ticks(ts: datetime) -> str:
    """Fixed-width, lexicographically newest first."""
    return f"{_micros(_EPOCH_MAX - require_aware(ts, 'ts')):0{TICKS_WIDTH}d}"


def query_bounds(start: datetime | None, end: datetime | None) -> tuple[str, str]:
    """``(low, high)`` with ``low <= RowKey < high`` selecting ``start <= ts <= end``.

    Works for every newest-first RowKey above (``<inverted ticks>-...``). None = open end.
    """
    low = inverted_ticks(end) if end is not None else "0" * TICKS_WIDTH
    # "-" sorts before ".", so every "<inv(start)>-..." key is below "<inv(start)>.".
    high = (inverted_ticks(start) if start is not None else "9" * TICKS_WIDTH) + "."
    return low, high


def without_keys(entity: dict[str, Any]) -> dict[str, Any]:
    """An index row's columns, without its PartitionKey and RowKey (what searches show)."""
    return {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")}


def odata_literal(value: str) -> str:
    """A string as an OData filter literal: quoted, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def range_filter(
    partition_key: str, start: datetime | None, end: datetime | None, *, prefix: str = ""
) -> str:
    """OData filter for one partition and a time range (newest-first RowKeys).

    ``prefix`` selects RowKeys ``<prefix><inverted ticks>-...`` (the conversation rows).
    """
    low, high = query_bounds(start, end)
    return (
        f"PartitionKey eq {odata_literal(partition_key)}"
        f" and RowKey ge {odata_literal(prefix + low)}"
        f" and RowKey lt {odata_literal(prefix + high)}"
    )


def day_key(ts: datetime) -> str:
    return require_aware(ts, "ts").strftime("%Y-%m-%d")


def days_between(start: datetime, end: datetime) -> list[str]:
    """Day partitions covering ``start..end``, newest first (the by-day query order)."""
    first = require_aware(start, "start").date()
    last = require_aware(end, "end").date()
    days: list[str] = []
    current = last
    while current >= first:
        days.append(current.isoformat())
        current -= timedelta(days=1)
    return days


def participant_key(participant: str) -> str:
    return key_segment(participant)


def message_key(message_id: str) -> str:
    return key_segment(message_id)


def conversation_row_prefix(business_id: str) -> str:
    """``c~<encoded business>~~``: the RowKey prefix of one conversation's rows.

    ``~~`` never occurs inside an encoded id (archive.encoding), so one business's prefix
    is never a prefix of another's: a conversation query cannot pick up a neighbour's rows.
    """
    return f"{CONVERSATION_ROW_PREFIX}{key_segment(business_id)}~~"


def conversation_filter(
    business_id: str, customer_id: str, start: datetime | None, end: datetime | None
) -> str:
    """A conversation by time range: the customer's by-participant partition, one prefix."""
    return range_filter(
        participant_key(customer_id), start, end, prefix=conversation_row_prefix(business_id)
    )


def _projection(record: dict[str, Any], record_path: str) -> dict[str, Any]:
    conversation = record.get("conversation") or {}
    status = record.get("status") or {}
    return {
        "event": record["event"],
        "direction": record["direction"],
        "type": record["type"],
        "provider": record["provider"],
        "message_id": record["message_id"],
        "timestamp": record["timestamp"],
        "from": record.get("from"),
        "to": record.get("to"),
        "business_id": conversation.get("business_id"),
        "customer_id": conversation.get("customer_id"),
        "status": status.get("value"),
        "media_count": len(record.get("media") or ()),
        "record_path": record_path,
        "fingerprint": record["fingerprint"],
    }


def _record_time(record: dict[str, Any]) -> datetime:
    ts = from_iso(str(record["timestamp"]))
    if ts is None:
        raise ValueError("record timestamp is not ISO-8601 UTC")
    return ts


def _participants(record: dict[str, Any]) -> list[str]:
    """The customer, the firm's number (always as business_id), and a group member.

    The firm's side is keyed by ``business_id`` whatever spelling the source used (display
    number in webhooks, phone_number_id in outbound capture), so one partition holds it all.
    """
    conversation = record.get("conversation") or {}
    other_party = record.get("from") if record.get("direction") == "inbound" else record.get("to")
    seen: list[str] = []
    candidates = (conversation.get("customer_id"), conversation.get("business_id"), other_party)
    for value in candidates:
        if isinstance(value, str) and value and value not in seen:
            seen.append(value)
    return seen


def index_entities(record: dict[str, Any], record_path: str) -> dict[str, list[dict[str, Any]]]:
    """Rows to upsert for one record (idempotent: a redelivery yields identical rows)."""
    ts = _record_time(record)
    columns = _projection(record, record_path)
    fp16 = str(record["fingerprint"])[:16]
    event = str(record["event"])
    newest_first = f"{inverted_ticks(ts)}-{message_key(record['message_id'])}-{event}-{fp16}"
    rows: dict[str, list[dict[str, Any]]] = {
        TABLE_BY_MESSAGE: [
            {
                "PartitionKey": message_key(record["message_id"]),
                "RowKey": f"{event}-{ticks(ts)}-{fp16}",
                **columns,
            }
        ],
        TABLE_BY_DAY: [{"PartitionKey": day_key(ts), "RowKey": newest_first, **columns}],
        TABLE_BY_PARTICIPANT: [],
        # Texts, captions, filenames and edits only (statuses have none): one row per
        # distinct word, each in its word's partition.
        TABLE_BY_TERM: term_entities(record, newest_first=newest_first, columns=columns),
    }
    # Statuses are looked up through their message; they would flood the timelines.
    if event != "status":
        conversation = record.get("conversation") or {}
        business, customer = str(conversation["business_id"]), str(conversation["customer_id"])
        rows[TABLE_BY_PARTICIPANT] = [
            {"PartitionKey": participant_key(p), "RowKey": newest_first, **columns}
            for p in _participants(record)
        ] + [
            # The conversation's row, beside the customer's own row (one transaction).
            {
                "PartitionKey": participant_key(customer),
                "RowKey": conversation_row_prefix(business) + newest_first,
                **columns,
            }
        ]
    return rows


def partition_groups(
    rows: dict[str, list[dict[str, Any]]],
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """``(table, PartitionKey, rows)`` in first-seen order: what one transaction can hold.

    A text message's rows make four groups: its message, the customer (participant and
    conversation rows), the business, and its day.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for table, entities in rows.items():
        for entity in entities:
            groups.setdefault((table, str(entity["PartitionKey"])), []).append(entity)
    return [(table, partition, group) for (table, partition), group in groups.items()]


def call_state_rank(event: str | None, status: str | None) -> int:
    """Where a call event stands in the call's life (see ``CALL_EVENT_RANK``)."""
    if event == "status":
        return CALL_STATUS_RANK.get(status or "", 0)
    return CALL_EVENT_RANK.get(event or "", 0)


def _call_state(event: str, status: str | None) -> str:
    return f"{_CALL_STATE_PREFIX}{event}:{status or ''}"


def _rank(value: str) -> int:
    if value.startswith(_CALL_STATE_PREFIX):
        event, _, status = value[len(_CALL_STATE_PREFIX):].partition(":")
        return call_state_rank(event, status or None)
    return STATUS_RANK.get(value, 0)


def latest_status_entity(record: dict[str, Any], record_path: str) -> dict[str, Any] | None:
    """The by-message ``latest-status`` row this status (or call) record would write, if it wins.

    The writer reads the current row, calls :func:`latest_status_wins` with
    :func:`latest_status_of`, and replaces it (with its ETag) only when the candidate wins.
    A call's row sits under the call id: ``status`` is the call state shown (the status,
    else the call event), ``call_event`` and ``call_status`` rank it.
    """
    status = record.get("status")
    event = record.get("event")
    if event not in ("status", "delete", CALL_EVENT) or not isinstance(status, dict):
        return None
    row = {
        "PartitionKey": message_key(record["message_id"]),
        "RowKey": LATEST_STATUS_ROW,
        "status": status.get("value"),
        "status_timestamp": record["timestamp"],
        "record_path": record_path,
        "fingerprint": record["fingerprint"],
    }
    if event == CALL_EVENT:
        call = call_facts(record.get("content"))
        row["call_event"] = str(call.get("event") or "unknown")
        if isinstance(call.get("status"), str):  # Table rows leave an absent value out
            row["call_status"] = call["status"]
    return row


def latest_status_of(entity: dict[str, Any] | None) -> tuple[datetime, str] | None:
    """``(provider time, value)`` to compare; a call row's value is its ranked call state."""
    if not entity:
        return None
    ts = from_iso(str(entity.get("status_timestamp", "")))
    value = entity.get("status")
    if ts is None or not isinstance(value, str):
        return None
    call_event = entity.get("call_event")
    if isinstance(call_event, str):
        status = entity.get("call_status")
        return ts, _call_state(call_event, status if isinstance(status, str) else None)
    return ts, value


def latest_status_wins(
    current: tuple[datetime, str] | None, candidate: tuple[datetime, str]
) -> bool:
    """Should ``candidate`` replace ``current`` as the message's shown status?

    The shown status never regresses: a status further along the lifecycle
    (sent < delivered < read < played < failed < deleted) always wins, whatever the order of
    arrival or clock skew between provider timestamps; for the same status the later
    provider timestamp wins. Unknown values rank 0, so they never hide a known status.
    Call states (``call:<event>:<status>`` from :func:`latest_status_of`) follow the call
    rank instead: connect < ringing < accepted < rejected/failed/completed < terminate.
    """
    if current is None:
        return True
    current_ts, current_value = current
    candidate_ts, candidate_value = candidate
    current_rank = _rank(current_value)
    candidate_rank = _rank(candidate_value)
    if candidate_rank != current_rank:
        return candidate_rank > current_rank
    return candidate_ts > current_ts


def _well_formed(text: str) -> str:
    """Lone surrogates (json.loads makes them from ``"\\ud800"``) cannot be sent as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _bounded_reason(reason: str) -> str:
    reason = _well_formed(reason)
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    marker = f" ... [truncated: {len(reason)} chars]"
    # str slices by code point and lone surrogates are gone, so no character is split.
    return reason[: MAX_REASON_CHARS - len(marker)] + marker


def _bounded_ref(ref: str, ref_hash: str) -> str:
    readable = _well_formed(ref)
    if len(readable) <= MAX_REF_CHARS:
        return readable
    # The hash of the whole ref tells two long refs apart; the prefix says where to look.
    return f"{readable[:_REF_PREFIX_CHARS]}...sha256:{ref_hash}"


def _bounded_detail(detail: dict[str, Any]) -> str:
    """Detail as JSON, never cut mid-document: oversized fields are named, not kept.

    Truncating the text would leave invalid JSON; a blob pointer would add a write (that
    can fail) to the failure path for data the raw body already holds. So an oversized
    detail keeps its small fields and lists the dropped ones with their sizes.
    """
    full = json.dumps(detail, sort_keys=True, default=str)
    if len(full) <= MAX_DETAIL_CHARS:
        return full
    budget = MAX_DETAIL_CHARS // 2
    kept: dict[str, Any] = {}
    dropped: dict[str, int] = {}
    for key in sorted(detail, key=str):
        size = len(json.dumps(detail[key], default=str))  # of the field's JSON text
        cost = size + len(json.dumps(str(key))) + 2
        if size <= _MAX_KEPT_FIELD_CHARS and cost <= budget:
            kept[str(key)] = detail[key]
            budget -= cost
        else:
            dropped[str(key)[:_REF_PREFIX_CHARS]] = size
    summary = json.dumps(
        {**kept, "_dropped": dropped, "_detail_chars": len(full)}, sort_keys=True, default=str
    )
    if len(summary) <= MAX_DETAIL_CHARS:
        return summary
    # Thousands of fields: even their names do not fit.
    return json.dumps({**kept, "_dropped_fields": len(dropped), "_detail_chars": len(full)},
                      sort_keys=True, default=str)


def failure_entity(
    kind: FailureKind, *, day: str, ref: str, reason: str, detail: dict[str, Any]
) -> dict[str, Any]:
    """Row for the failures table; the same failure recorded twice is the same row.

    Provider-controlled text (error titles, media ids) can be any size, so ``reason``,
    ``ref`` and ``detail`` are bounded and made well-formed: the row is always valid JSON
    and inside the Table limits. The RowKey hashes the whole ``ref``, as it always did.
    """
    ref_hash = hashlib.sha256(ref.encode("utf-8", "surrogatepass")).hexdigest()
    return {
        "PartitionKey": kind,
        "RowKey": f"{day}-{ref_hash[:32]}",
        "kind": kind,
        "day": day,
        "ref": _bounded_ref(ref, ref_hash),
        "reason": _bounded_reason(reason),
        "detail": _bounded_detail(detail),
    }
