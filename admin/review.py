"""The review queue (issue 16): list lexicon flags, show one in its conversation, decide.

A flag's status is never stored on its Flags row (archive.flags): it is the latest
valid decision blob under ``supervision/decisions/<day>/<rowkey>/`` in ``audit``,
"open" without one. "Latest" is by the blob's creation time as the Storage service
recorded it, not by the time in its name or document: a writer chooses those (a
decision named ``99991231...`` would otherwise outrank every later one), but not the
service's clock. Blobs that archive.flags.decision_from refuses (another flag's
document, a foreign schema, unreadable JSON) decide nothing and are counted, so a
reviewer sees that something odd sits in the decisions folder.

Every call here is audited like the other admin views (intent first): listing, showing
(it shows message text) and marking. Audit targets hold ids, days and statuses only;
the reviewer's comment belongs in the decision, never in the audit trail or a log.
Calls a reviewer's identity is refused become one sentence naming the reviewer role.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings

from admin.audit import audited, who
from admin.connection import AdminError, Archive
from archive.flags import (
    DECISION_STATUSES,
    FLAG_OPEN,
    FLAG_STATUSES,
    Decision,
    FlagError,
    decision_blob_name,
    decision_document,
    decision_from,
    decision_prefix,
    flag_id,
    flag_of_decision_name,
    parse_flag_id,
)
from archive.index import (
    TICKS_WIDTH,
    conversation_row_prefix,
    inverted_ticks,
    message_key,
    odata_literal,
    participant_key,
)
from archive.lexicon import text_fields
from archive.names import AUDIT_CONTAINER, RECORDS_CONTAINER, TABLE_BY_PARTICIPANT, TABLE_FLAGS
from archive.timestamps import from_iso

T = TypeVar("T")
STATUS_FILTERS = (*FLAG_STATUSES, "all")
DEFAULT_DAYS = 30
MAX_DAYS = 366  # one Flags partition query (and one decisions listing) per day
DEFAULT_LIMIT = 100
CONTEXT = 5  # messages shown before and after the flagged one
# Newer context is read in widening time rings: Table queries run oldest RowKey first,
# which for newest-first keys means the newest message first, so the closest newer
# messages can only be found by bounding the range and reading it whole.
_RINGS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=30),
          timedelta(days=365), None)
FLAG_COLUMNS = ("policy_version", "policy_sha256", "rules", "hits", "record_path", "message_id",
                "event", "direction", "provider", "timestamp", "from", "to", "business_id",
                "customer_id", "source", "flagged_at")
REVIEWER_ROLE = ("the reviewer role: Storage Table Data Reader on Flags and "
                 "IndexByParticipant, Storage Blob Data Reader on records, and the Audit "
                 "Appender role on audit (docs/review.md)")

__all__ = [
    "DECISION_STATUSES", "STATUS_FILTERS", "FlagError", "FlagListing", "FlagNotFound",
    "FlagSummary", "StoredDecision", "list_flags", "mark", "show_flag",
]


class FlagNotFound(AdminError):
    """A well-formed flag id with no Flags row."""


@dataclass(frozen=True)
class StoredDecision:
    decision: Decision
    created: datetime | None  # the service's creation time: what orders decisions

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {"status": d.status, "reviewer": d.reviewer, "decided_at": d.decided_at,
                "stored_at": self.created.isoformat() if self.created else None,
                "comment": d.comment, "name": d.name}


@dataclass(frozen=True)
class FlagSummary:
    id: str
    row: dict[str, Any]  # the Flags row without its keys, rules and hits decoded
    status: str
    decisions: list[StoredDecision]  # oldest first

    def to_json(self) -> dict[str, Any]:
        return {**self.row, "id": self.id, "status": self.status,
                "decisions": [d.to_json() for d in self.decisions]}


@dataclass
class FlagListing:
    flags: list[FlagSummary] = field(default_factory=list)
    days: list[str] = field(default_factory=list)  # the days read, newest first
    ignored_decisions: int = 0  # decision blobs decision_from refused
    truncated: bool = False  # stopped at the limit

    def to_json(self) -> dict[str, Any]:
        return {"flags": [f.to_json() for f in self.flags],
                "from": self.days[-1] if self.days else None,
                "to": self.days[0] if self.days else None,
                "ignored_decisions": self.ignored_decisions, "truncated": self.truncated}


def _call(archive: Archive, service: str, what: str, action: Callable[[], T]) -> T:
    """archive.call, with a refused call explained in terms of the reviewer role."""

    def guarded() -> T:
        try:
            return action()
        except (HttpResponseError, ClientAuthenticationError) as exc:
            if getattr(exc, "status_code", None) == 403:
                raise AdminError(f"your identity may not {what} on {archive.target.label} "
                                 f"({REVIEWER_ROLE})") from None
            raise

    return archive.call(service, what, guarded)


def _decoded(entity: dict[str, Any]) -> dict[str, Any]:
    # Only the columns flag_entity writes: anything else on a row (a "status" someone
    # added) is not the app's and must not read as if it were.
    row = {k: entity.get(k) for k in FLAG_COLUMNS}
    for key in ("rules", "hits"):
        try:
            row[key] = json.loads(str(row.get(key) or "[]"))
        except ValueError:
            row[key] = []
    return row


def current_status(decisions: list[StoredDecision]) -> str:
    """The latest decision by service time (name breaks ties), "open" without one."""
    epoch = datetime.min.replace(tzinfo=UTC)
    latest = max(decisions, key=lambda d: (d.created or epoch, d.decision.name), default=None)
    return latest.decision.status if latest is not None else FLAG_OPEN


def _decisions(archive: Archive, prefix: str) -> tuple[dict[str, list[StoredDecision]], int]:
    """Valid decisions under `prefix` by flag id (oldest first), and how many were refused."""
    audit = archive.container(AUDIT_CONTAINER)

    def listing() -> dict[str, datetime | None]:
        return {b.name: b.creation_time for b in audit.list_blobs(name_starts_with=prefix)}

    try:
        created = _call(archive, "blob", "list review decisions", listing)
    except ResourceNotFoundError:
        return {}, 0
    found: dict[str, list[StoredDecision]] = {}
    ignored = 0

    def download(name: str) -> bytes:
        return _call(archive, "blob", "read a review decision",
                     lambda: audit.download_blob(name).readall())

    for name in sorted(created):
        flag = flag_of_decision_name(name)
        data = download(name)
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        decision = decision_from(name, document) if isinstance(document, dict) else None
        if flag is None or decision is None:
            ignored += 1
            continue
        found.setdefault(flag, []).append(StoredDecision(decision, created[name]))
    for stored in found.values():
        stored.sort(key=lambda d: (d.created or datetime.min.replace(tzinfo=UTC),
                                   d.decision.name))
    return found, ignored


def _day_range(start: date | None, end: date | None, now: datetime) -> list[str]:
    last = end or now.astimezone(UTC).date()
    first = start or (last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise FlagError("--from is after --to")
    span = (last - first).days + 1
    if span > MAX_DAYS:
        raise FlagError(f"a review listing spans at most {MAX_DAYS} days; narrow it")
    return [(last - timedelta(days=n)).isoformat() for n in range(span)]


def list_flags(
    archive: Archive, status: str = FLAG_OPEN, start: date | None = None,
    end: date | None = None, limit: int = DEFAULT_LIMIT, *, now: datetime | None = None,
) -> FlagListing:
    """Flags of the days start..end (default: the last 30), newest day first, by status."""
    if status not in STATUS_FILTERS:
        raise FlagError(f"status must be one of {', '.join(STATUS_FILTERS)}")
    if limit < 1:
        raise FlagError("limit must be at least 1")
    days = _day_range(start, end, now or datetime.now(UTC))
    listing = FlagListing(days=days)
    flags = archive.tables.get_table_client(TABLE_FLAGS)
    target = {"status": status, "from": days[-1], "to": days[0], "limit": limit}
    def day_rows(day: str) -> list[dict[str, Any]]:
        return _call(archive, "table", "read the Flags table", lambda: [
            dict(e) for e in flags.query_entities(f"PartitionKey eq {odata_literal(day)}")])

    with audited(archive, "review_list", target) as run:
        for day in days:
            rows = day_rows(day)
            if not rows:
                continue  # no flags that day: its decisions need no listing
            decided, ignored = _decisions(archive, decision_prefix(day))
            listing.ignored_decisions += ignored
            rows.sort(key=lambda r: str(r.get("timestamp") or ""), reverse=True)
            for entity in rows:
                fid = flag_id(day, str(entity["RowKey"]))
                history = decided.get(fid, [])
                summary = FlagSummary(fid, _decoded(entity), current_status(history), history)
                if status != "all" and summary.status != status:
                    continue
                if len(listing.flags) >= limit:
                    listing.truncated = True
                    break
                listing.flags.append(summary)
            if listing.truncated:
                break
        run.result = (f"ok: {len(listing.flags)} flags, {listing.ignored_decisions} "
                      "decision blobs ignored")
    return listing


def _flag(archive: Archive, fid: str) -> FlagSummary:
    day, row_key = parse_flag_id(fid)
    flags = archive.tables.get_table_client(TABLE_FLAGS)
    try:
        entity = _call(archive, "table", "read the Flags table",
                       lambda: dict(flags.get_entity(day, row_key)))
    except ResourceNotFoundError:
        raise FlagNotFound(f"no flag {fid}") from None
    decided, _ = _decisions(archive, decision_prefix(day, row_key))
    history = decided.get(flag_id(day, row_key), [])
    return FlagSummary(flag_id(day, row_key), _decoded(entity), current_status(history), history)


def _record(archive: Archive, path: str) -> dict[str, Any] | None:
    records = archive.container(RECORDS_CONTAINER)
    try:
        data = _call(archive, "blob", "read a record",
                     lambda: records.download_blob(path).readall())
        value = json.loads(data)
    except (ResourceNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _text(record: dict[str, Any] | None) -> str | None:
    """What a reviewer reads: the texts the lexicon reads (body, caption, file names)."""
    if record is None:
        return None
    return "\n".join(text for _, text in text_fields(record))


def _conversation_rows(
    archive: Archive, row: dict[str, Any], record: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[dict[str, Any]]]:
    """(older, the flagged message's row, newer) conversation rows, oldest first."""
    business, customer = row.get("business_id"), row.get("customer_id")
    ts = from_iso(str(row.get("timestamp") or ""))
    if not (isinstance(business, str) and isinstance(customer, str) and ts is not None):
        return [], None, []
    prefix = conversation_row_prefix(business)
    fp16 = str((record or {}).get("fingerprint") or "")[:16]
    own = (f"{prefix}{inverted_ticks(ts)}-{message_key(str(row.get('message_id')))}-"
           f"{row.get('event')}-{fp16}")
    index = archive.tables.get_table_client(TABLE_BY_PARTICIPANT)
    pk = participant_key(customer)

    def between(low: str, high: str, first: int | None = None) -> list[dict[str, Any]]:
        query = (f"PartitionKey eq {odata_literal(pk)} and RowKey ge {odata_literal(low)}"
                 f" and RowKey lt {odata_literal(high)}")
        rows: list[dict[str, Any]] = []
        for entity in index.query_entities(query, results_per_page=first or 1000):
            rows.append(dict(entity))
            if first is not None and len(rows) >= first:
                break
        return rows

    def read() -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[dict[str, Any]]]:
        # Older messages have larger inverted ticks: ascending RowKeys come closest first,
        # starting with the flagged message's own row.
        older = between(own, prefix + "9" * TICKS_WIDTH + ".", CONTEXT + 1)
        mine = older.pop(0) if older and older[0]["RowKey"] == own else None
        newer: list[dict[str, Any]] = []
        high = own
        for ring in _RINGS:
            low = prefix + (inverted_ticks(ts + ring) if ring else "0" * TICKS_WIDTH)
            if low < high:
                newer.extend(between(low, high))
            high = low
            if len(newer) >= CONTEXT:
                break
        newer.sort(key=lambda r: str(r["RowKey"]), reverse=True)  # closest (oldest) first
        return list(reversed(older[:CONTEXT])), mine, newer[:CONTEXT]

    return _call(archive, "table", "read the conversation index", read)


def _message(archive: Archive, row: dict[str, Any], *, flagged: bool,
             record: dict[str, Any] | None = None) -> dict[str, Any]:
    path = str(row.get("record_path") or "")
    if record is None and path:
        record = _record(archive, path)
    return {"flagged": flagged, "timestamp": row.get("timestamp"),
            "direction": row.get("direction"), "event": row.get("event"),
            "type": row.get("type") or (record or {}).get("type"),
            "from": row.get("from"), "to": row.get("to"), "message_id": row.get("message_id"),
            "record_path": path, "text": _text(record)}


def show_flag(archive: Archive, fid: str) -> dict[str, Any]:
    """The flag, its status and decisions, and the message amid 5 before and 5 after it."""
    parse_flag_id(fid)  # a malformed id is refused before anything is written
    with audited(archive, "review_show", {"flag": fid.strip()}) as run:
        flag = _flag(archive, fid)
        record = _record(archive, str(flag.row.get("record_path") or ""))
        older, mine, newer = _conversation_rows(archive, flag.row, record)
        context = [_message(archive, r, flagged=False) for r in older]
        context.append(_message(archive, mine or flag.row, flagged=True, record=record))
        context += [_message(archive, r, flagged=False) for r in newer]
        run.result = f"ok: {flag.status}, {len(context)} messages of context"
    return {**flag.to_json(), "context": context}


def mark(
    archive: Archive, fid: str, status: str, comment: str, *, now: datetime | None = None,
) -> dict[str, Any]:
    """Record a decision on a flag (create-only, named after the reviewer); latest wins."""
    day, row_key = parse_flag_id(fid)
    fid = flag_id(day, row_key)
    reviewer = who(archive)
    decided_at = now or datetime.now(UTC)
    # Validated before anything is written: a bad status or comment leaves no trace.
    placeholder: dict[str, Any] = {}
    decision_document(fid, status=status, comment=comment, reviewer=reviewer,
                      decided_at=decided_at, flag_row=placeholder)
    flag = _flag(archive, fid)  # refuses an unknown flag, still before any write
    # The comment and the matched words stay out of the audit target: ids and status only.
    with audited(archive, "review_mark", {"flag": fid, "status": status}) as run:
        row = {**flag.row, "rules": json.dumps(flag.row.get("rules") or [])}
        document = decision_document(fid, status=status, comment=comment, reviewer=reviewer,
                                     decided_at=decided_at, flag_row=row)
        name = decision_blob_name(fid, decided_at, secrets.token_hex(8))
        data = json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")
        audit = archive.container(AUDIT_CONTAINER)
        # Put Blob with If-None-Match: * (overwrite=False): a decision is never replaced.
        # The sha256 rides along, as on audit entries, for whoever lists and verifies.
        _call(archive, "blob", "write a review decision", lambda: audit.upload_blob(
            name, data, overwrite=False, metadata={"sha256": hashlib.sha256(data).hexdigest()},
            content_settings=ContentSettings(content_type="application/json")))
        # The outcome entry sits in a sealed day folder of `audit`; naming the decision and
        # its hash there anchors the decision (its own folder is outside the daily seals).
        run.target["decision"] = name
        run.target["decision_sha256"] = hashlib.sha256(data).hexdigest()
        run.result = f"ok: {flag.status} -> {status}"
    return {"id": fid, "status": status, "previous": flag.status, "reviewer": reviewer,
            "decided_at": document["decided_at"], "decision": name}
