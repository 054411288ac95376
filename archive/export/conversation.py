"""The conversation model of a production: records folded into what a transcript shows.

A record@1 is one event. A reviewer wants one entry per message with everything that
happened to it: its status timeline, its edits, its deletion and the reactions to it. This
module does that folding once, for the HTML/PDF transcripts and the RSMF writer alike.

Rules (issue #12):
- Arrival order never matters: everything is sorted by provider time, ties by record path.
- Statuses, edits, deletes and reactions attach to their message by message id (statuses,
  customer deletes) or by the id the Meta parser recorded as referenced (edits, revokes,
  reactions), across conversations: a group message's statuses are filed under each
  recipient's conversation key, so matching only inside one conversation would orphan them.
- A reference whose message is not in the export becomes an orphan entry of its own kind
  (status, edit, delete, reaction), grouped per referenced message id: shown, never dropped.
- Conflict siblings (``<name>.conflict-<sha>.json``) are second versions of one event: a
  primary record becomes a second entry right after the first; an attached one becomes one
  more step, version or reaction. :func:`conflict_of` tells a renderer which to mark.
- Calls (issue #19): one record per call event, ``message_id`` = call id; they fold into one
  entry of kind ``call`` whose ``statuses`` are the call events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from archive.index import STATUS_RANK, latest_status_wins
from archive.timestamps import from_iso

CONFLICT_MARK = ".conflict-"
# Events that are things in the conversation; the rest refer to one of those.
_ATTACHED = frozenset({"status", "edit", "delete", "reaction"})
CALL = "call"
# Same provider second: order by lifecycle, so "ringing" never shows after "accepted".
_CALL_RANK = {"connect": 1, "ringing": 2, "accepted": 3, "rejected": 3, "terminate": 9}
# A record without a readable time still sorts (first), instead of breaking the export.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StatusStep:
    value: str  # sent | delivered | read | played | failed | deleted | call events as recorded
    at: datetime  # provider time, UTC
    recipient: str | None
    errors: tuple[dict[str, Any], ...]
    # Addition to the agreed API (defaulted, so positional use still works): which record
    # the step came from, so a conflict sibling can be marked and an auditor can find it.
    record_path: str | None = None


@dataclass(frozen=True)
class Version:  # one edit: the new text
    text: str | None
    at: datetime
    record_path: str


@dataclass(frozen=True)
class Reaction:
    emoji: str | None  # None = reaction removed
    by: str | None
    at: datetime
    record_path: str


@dataclass(frozen=True)
class CallSummary:
    """What a reviewer asks of a call: who called, how long, how it ended."""

    call_id: str
    direction: str | None  # business_initiated | user_initiated (as recorded)
    duration_seconds: int | None
    outcome: str | None  # the last recorded status of the call, e.g. completed / rejected
    start_time: str | None
    end_time: str | None


@dataclass
class Entry:  # one thing a transcript shows
    message_id: str
    kind: str  # message | call | system | unknown, or an orphan status|edit|delete|reaction
    type: str
    direction: str
    sender: str | None
    recipients: tuple[str, ...]
    at: datetime  # provider time, UTC
    text: str | None  # body or caption as first sent
    quoted_id: str | None  # the message this one replies to
    media: tuple[dict[str, Any], ...]  # the record's media[] entries as stored
    record_path: str
    record: dict[str, Any]
    statuses: list[StatusStep] = field(default_factory=list)  # time-ordered
    edits: list[Version] = field(default_factory=list)  # time-ordered
    deleted_at: datetime | None = None
    reactions: list[Reaction] = field(default_factory=list)
    # Additions to the agreed API (defaulted): the summary of a call entry, and the record
    # that deleted the message (a revoke has no status step to carry its path).
    call: CallSummary | None = None
    delete_path: str | None = None

    @property
    def is_orphan(self) -> bool:
        """A status/edit/delete/reaction whose message is not in the export."""
        return self.kind in _ATTACHED


@dataclass
class Conversation:
    key: str  # record conversation.key
    business_id: str
    customer_id: str
    participants: tuple[str, ...]
    entries: list[Entry]  # provider-time order; ties by record path


def conflict_of(record_path: str) -> str | None:
    """The record a conflict sibling stands beside, or None for an ordinary record."""
    if CONFLICT_MARK not in record_path:
        return None
    return record_path.split(CONFLICT_MARK, 1)[0] + ".json"


def record_time(record: dict[str, Any]) -> datetime:
    value = record.get("timestamp")
    parsed = from_iso(value) if isinstance(value, str) else None
    return parsed or _NO_TIME


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _content(record: dict[str, Any]) -> dict[str, Any]:
    return _dict(record.get("content"))


def _sort_key(path: str, at: datetime) -> tuple[datetime, str, bool, str]:
    # A conflict sibling sorts right after the record it stands beside.
    base = conflict_of(path)
    return (at, base or path, base is not None, path)


def _step(path: str, record: dict[str, Any]) -> StatusStep:
    status = _dict(record.get("status"))
    errors = tuple(e for e in status.get("errors") or () if isinstance(e, dict))
    value = _str(status.get("value")) or ("deleted" if record.get("event") == "delete"
                                          else "unknown")
    return StatusStep(value=value, at=record_time(record), recipient=_str(status.get("recipient")),
                      errors=errors, record_path=path)


def _call_step(path: str, record: dict[str, Any]) -> StatusStep:
    call = _dict(_content(record).get("call"))
    event = _str(call.get("event")) or "unknown"
    status = _str(call.get("status"))
    # A call "status" event says which (ringing, accepted, rejected...); the others name it.
    value = status.lower() if event == "status" and status else event
    errors = tuple(e for e in call.get("errors") or _content(record).get("errors") or ()
                   if isinstance(e, dict))
    return StatusStep(value=value, at=record_time(record), recipient=_str(record.get("to")),
                      errors=errors, record_path=path)


def _text_of(content: dict[str, Any]) -> str | None:
    return _str(content.get("text")) or _str(content.get("caption"))


def _new_entry(path: str, record: dict[str, Any], kind: str, message_id: str) -> Entry:
    content = _content(record)
    to = _str(record.get("to"))
    media = tuple(m for m in record.get("media") or () if isinstance(m, dict))
    return Entry(
        message_id=message_id, kind=kind, type=_str(record.get("type")) or "",
        direction=_str(record.get("direction")) or "", sender=_str(record.get("from")),
        recipients=(to,) if to else (), at=record_time(record),
        text=_text_of(content) if kind == "message" else None,
        quoted_id=_str(_dict(content.get("context")).get("id")),
        media=media, record_path=path, record=record,
    )


def _target_id(record: dict[str, Any]) -> str:
    """The message an attached event refers to, as the Meta parser records it."""
    content = _content(record)
    event = record.get("event")
    own = _str(record.get("message_id")) or ""
    if event == "reaction":
        return _str(_dict(content.get("reaction")).get("message_id")) or _str(
            content.get("referenced_message_id")) or own
    if event in ("edit", "delete"):
        # A revoke or edit names the original; a customer-delete status reports on it.
        return _str(content.get("original_message_id")) or own
    return own


def _attach(entry: Entry, path: str, record: dict[str, Any]) -> None:
    event = record.get("event")
    at = record_time(record)
    if event == "status" or (event == "delete" and isinstance(record.get("status"), dict)):
        entry.statuses.append(_step(path, record))
    if event == "delete" and (entry.deleted_at is None or at < entry.deleted_at):
        entry.deleted_at = at
        entry.delete_path = path
    elif event == "edit":
        edited = _dict(_content(record).get("edited"))
        entry.edits.append(Version(text=_text_of(edited), at=at, record_path=path))
    elif event == "reaction":
        content = _content(record)
        emoji = _str(_dict(content.get("reaction")).get("emoji"))
        removed = bool(content.get("reaction_removed")) or not emoji
        entry.reactions.append(Reaction(emoji=None if removed else emoji,
                                        by=_str(record.get("from")), at=at, record_path=path))


def _conversation_ids(record: dict[str, Any]) -> tuple[str, str, str]:
    conv = _dict(record.get("conversation"))
    business = _str(conv.get("business_id")) or ""
    customer = _str(conv.get("customer_id")) or ""
    key = _str(conv.get("key")) or f"{business}~~{customer}"
    return key, business, customer


def _participants(entries: Iterable[Entry]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for entry in entries:
        for party in (entry.sender, *entry.recipients):
            if party:
                seen.setdefault(party, None)
        for step in entry.statuses:
            if step.recipient:
                seen.setdefault(step.recipient, None)
        for reaction in entry.reactions:
            if reaction.by:
                seen.setdefault(reaction.by, None)
    return tuple(seen)


def _order(entry: Entry) -> None:
    ranks = _CALL_RANK if entry.kind == CALL else STATUS_RANK
    entry.statuses.sort(key=lambda s: (s.at, ranks.get(s.value, 5 if entry.kind == CALL else 0),
                                       *_sort_key(s.record_path or "", s.at)[1:]))
    entry.edits.sort(key=lambda v: _sort_key(v.record_path, v.at))
    entry.reactions.sort(key=lambda r: _sort_key(r.record_path, r.at))


class _Folder:
    """Folds records, taken in provider-time order, into entries per conversation key."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Entry]] = []  # (conversation key, entry)
        self.targets: dict[tuple[str, str], Entry] = {}  # (provider, message id) -> entry
        self.calls: dict[tuple[str, str, str], Entry] = {}
        self.call_records: dict[int, list[dict[str, Any]]] = {}
        self.orphans: dict[tuple[str, str, str, str], Entry] = {}
        self.conv_ids: dict[str, tuple[str, str]] = {}

    def primary(self, path: str, record: dict[str, Any], key: str) -> None:
        event = _str(record.get("event")) or "unknown"
        provider = _str(record.get("provider")) or ""
        message_id = _str(record.get("message_id")) or ""
        if event == CALL:
            call = self.calls.get((key, provider, message_id))
            if call is None:
                call = _new_entry(path, record, CALL, message_id)
                self.calls[(key, provider, message_id)] = call
                self.entries.append((key, call))
                if message_id:
                    self.targets.setdefault((provider, message_id), call)
            call.statuses.append(_call_step(path, record))
            self.call_records.setdefault(id(call), []).append(record)
            return
        # message, system, unknown, and any future event: shown as what it says it is.
        entry = _new_entry(path, record, event, message_id)
        self.entries.append((key, entry))
        current = self.targets.get((provider, message_id))
        # References go to the first message with that id (the original, not a conflict).
        if not message_id:
            return  # nothing can refer to an event without an id
        if current is None or (event == "message" and current.kind != "message"):
            self.targets[(provider, message_id)] = entry

    def attach(self, path: str, record: dict[str, Any]) -> None:
        provider = _str(record.get("provider")) or ""
        target = _target_id(record)
        entry = self.targets.get((provider, target)) if target else None
        if entry is None:
            key = _conversation_ids(record)[0]
            event = str(record.get("event"))
            # Orphans that refer to one message share an entry; id-less ones stand alone.
            group = (key, provider, target or path, event)
            entry = self.orphans.get(group)
            if entry is None:
                entry = _new_entry(path, record, event, target)
                self.orphans[group] = entry
                self.entries.append((key, entry))
        _attach(entry, path, record)

    def conversations(self) -> list[Conversation]:
        by_key: dict[str, list[Entry]] = {}
        for key, entry in self.entries:
            _order(entry)
            if entry.kind == CALL:
                records = self.call_records.get(id(entry), [])
                entry.call = _call_summary(entry.message_id, records)
            by_key.setdefault(key, []).append(entry)
        result = []
        for key in sorted(by_key):
            group = sorted(by_key[key], key=lambda e: _sort_key(e.record_path, e.at))
            business, customer = self.conv_ids[key]
            result.append(Conversation(key=key, business_id=business, customer_id=customer,
                                       participants=_participants(group), entries=group))
        return result


def build_conversations(records: Iterable[tuple[str, dict[str, Any]]]) -> list[Conversation]:
    """Conversations (sorted by key) from ``(record_path, record@1)`` pairs in any order."""
    ordered = sorted(
        ((path, rec) for path, rec in records if isinstance(rec, dict)),
        key=lambda pr: _sort_key(pr[0], record_time(pr[1])),
    )
    folder = _Folder()
    attached: list[tuple[str, dict[str, Any]]] = []
    for path, record in ordered:
        key, business, customer = _conversation_ids(record)
        folder.conv_ids.setdefault(key, (business, customer))
        if record.get("event") in _ATTACHED:
            attached.append((path, record))  # after every message is known
        else:
            folder.primary(path, record, key)
    for path, record in attached:
        folder.attach(path, record)
    return folder.conversations()


def split_by_day(conversation: Conversation, tz: tzinfo) -> list[tuple[date, Conversation]]:
    """One conversation per local day in ``tz`` (by each entry's own time), days ascending.

    Statuses, edits and reactions stay with their message on the message's day.
    """
    days: dict[date, list[Entry]] = {}
    for entry in conversation.entries:
        days.setdefault(entry.at.astimezone(tz).date(), []).append(entry)
    return [
        (day, replace(conversation, participants=_participants(days[day]), entries=days[day]))
        for day in sorted(days)
    ]


def latest_status(entry: Entry) -> StatusStep | None:
    """The status a reviewer sees as current; never regresses (as in the index)."""
    shown: StatusStep | None = None
    for step in entry.statuses:
        current = (shown.at, shown.value) if shown else None
        if latest_status_wins(current, (step.at, step.value)):
            shown = step
    return shown


def _call_summary(call_id: str, records: Iterable[dict[str, Any]]) -> CallSummary:
    """Direction, duration and outcome of a call, from its call events in time order."""
    direction = outcome = start = end = None
    duration: int | None = None
    for record in records:
        call = _dict(_content(record).get("call"))
        direction = _str(call.get("direction")) or direction
        start = _str(call.get("start_time")) or start
        end = _str(call.get("end_time")) or end
        raw_duration = call.get("duration")
        if isinstance(raw_duration, int | float) and not isinstance(raw_duration, bool):
            duration = int(raw_duration)
        status = _str(call.get("status"))
        if status:
            outcome = status.lower()
    return CallSummary(call_id=call_id, direction=direction, duration_seconds=duration,
                       outcome=outcome, start_time=start, end_time=end)


def message_index(conversations: Iterable[Conversation]) -> dict[str, Entry]:
    """Messages of an export by id (first version wins), e.g. to quote across day files."""
    index: dict[str, Entry] = {}
    for conversation in conversations:
        for entry in conversation.entries:
            if entry.kind == "message":
                index.setdefault(entry.message_id, entry)
    return index
