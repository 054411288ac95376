"""Split a WASender webhook body into canonical events. Never raises.

Envelope: ``{"event": <name>, "timestamp": <s or ms>, "data": {...}, ["sessionId": ...]}``.
Every event is kept: message events become message, edit, delete or reaction records;
statuses and per-member receipts status records; account events (session, chats,
contacts, groups, calls, polls) system records; anything else ``unknown`` with its
fragment. A non-object item is a problem by its path. ``sessionId`` is documented as the
session API key, so no record ever copies it.

One inbound message reaches a subscriber twice, as ``messages.upsert`` and as
``*.received``. Both yield the same canonical event: the event name is in no field, the
fragment is the message item itself, and its time is the item's ``messageTimestamp``
(the envelope time only when the item has none). So both deliveries map to one instance
id and one record name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from archive.canonical import sha256_hex
from archive.events import (
    CanonicalEvent,
    Direction,
    EventKind,
    MediaRef,
    Normalized,
    StatusInfo,
    reaction_content,
)
from archive.identity import scoped_id
from archive.meta.body import load_body
from archive.meta.shapes import dicts, items, obj, pick, text
from archive.parse_result import ParseResult
from archive.wasender.content import normalize
from archive.wasender.parties import BUSINESS, Parties, clean_party, parties_of
from archive.wasender.statuses import Status, receipt_status, status_value
from archive.wasender.times import provider_time

PROVIDER = "wasender"
# Used only when no provider time is usable and the caller passed no received_at.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# Envelope keys no record may copy: WASender documents sessionId as the session API key.
SECRET_KEYS = frozenset({"sessionId"})
SENT_EVENT = "message.sent"
MESSAGE_EVENTS = frozenset({
    "messages.upsert", "messages.received", "messages-personal.received",
    "messages-group.received", "messages-newsletter.received", SENT_EVENT,
    # Spellings seen in WASender's own SDKs (Python enum typo, Laravel controller).
    "messages.recieved", "message.received", "message.personal.received",
    "message.group.received",
})
STATUS_EVENT = "messages.update"
RECEIPT_EVENT = "message-receipt.update"
REACTION_EVENT = "messages.reaction"
DELETE_EVENT = "messages.delete"
# Account and session events: not messages, still evidence (system records, no problem).
SYSTEM_EVENTS = frozenset({
    "session.status", "qrcode.updated", "chats.upsert", "chats.update", "chats.delete",
    "contacts.upsert", "contacts.update", "groups.upsert", "groups.update",
    "group-participants.update", "poll.results", "call", "call.received",
})
_NOT_ID_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _errors(value: object) -> list[dict[str, Any]]:
    """``message.sent``'s ``error``: a text, an object or a list of them."""
    if isinstance(value, str) and value:
        return [{"title": value}]
    if isinstance(value, dict):
        return [value]
    return list(dicts(value)) if isinstance(value, list) else []


class _Builder:
    def __init__(self, received_at: datetime | None, body_sha256: str) -> None:
        self.body_sha256 = body_sha256
        self.fallback_time = received_at.astimezone(UTC) if received_at else UNKNOWN_TIME
        self.envelope_time: object = None
        self.name = ""
        self.events: list[CanonicalEvent] = []
        self.problems: list[str] = []

    def time(self, content: dict[str, Any], *candidates: object) -> datetime:
        for candidate in (*candidates, self.envelope_time):
            parsed = provider_time(candidate)
            if parsed is not None:
                return parsed
        content["timestamp_missing"] = True
        return self.fallback_time

    def synthetic_id(self, prefix: str, fragment: object) -> str:
        # Scoped to the body: a redelivery repeats it, the same fragment elsewhere does not.
        return scoped_id(prefix, self.body_sha256, fragment)

    def message_id(self, where: str, key: dict[str, Any], fragment: object) -> str:
        found = text(key, "id")
        if found is None:
            self.problems.append(f"{where}: item without key.id")
            return self.synthetic_id("noid", fragment)
        return found

    def add(self, *, kind: EventKind, direction: Direction, message_id: str, parties: Parties,
            time: datetime, type_: str, content: dict[str, Any], fragment: dict[str, Any],
            status: StatusInfo | None = None, media: tuple[MediaRef, ...] = (),
            sender: str | None = None, recipient: str | None = None) -> None:
        if parties.group_id:
            content.setdefault("group_id", parties.group_id)
        self.events.append(CanonicalEvent(
            provider=PROVIDER, event=kind, direction=direction, message_id=message_id,
            sender=sender or parties.sender, recipient=recipient or parties.recipient,
            business_id=BUSINESS, customer_id=parties.customer, timestamp=time, type=type_,
            content=content, status=status, media=media, fragment=fragment,
        ))

    def envelope_event(self, kind: EventKind, type_: str, document: dict[str, Any],
                       content: dict[str, Any], customer: str | None = None) -> None:
        """A system or unknown record for a whole delivery (never with its sessionId)."""
        fragment = {k: v for k, v in document.items() if k not in SECRET_KEYS}
        prefix = "event-" + (_NOT_ID_SAFE.sub("_", self.name)[:40] or "none")
        time = self.time(content)
        self.events.append(CanonicalEvent(
            provider=PROVIDER, event=kind, direction="inbound",
            message_id=self.synthetic_id(prefix, fragment), sender=customer,
            recipient=BUSINESS, business_id=BUSINESS, customer_id=customer or "",
            timestamp=time, type=type_, content=content, fragment=fragment,
        ))


def _content_of(b: _Builder, where: str, item: dict[str, Any], message_id: str) -> Normalized:
    message = obj(item, "message")
    if message:
        return normalize(message, media_id_prefix=message_id)
    if item.get("messageStubType") is not None:
        # Baileys stubs: group notices (created, member added or removed ...), no content.
        stub = {"type": item.get("messageStubType"),
                "parameters": [p for p in items(item, "messageStubParameters")
                               if isinstance(p, str | int)]}
        return Normalized("system", f"stub:{str(stub['type'])[:40]}", {"stub": stub})
    b.problems.append(f"{where}: message item without message content")
    return Normalized("unknown", "unknown:empty")


def _message(b: _Builder, where: str, item: dict[str, Any]) -> None:
    """One message item of a message event (or ``message.sent``'s data)."""
    sent = b.name == SENT_EVENT
    key = obj(item, "key")
    message_id = b.message_id(where, key, item)
    # message.sent reports the session's own message even if its key omits fromMe.
    from_me = _flag(key.get("fromMe")) or (sent and "fromMe" not in key)
    parties = parties_of(key, from_me)
    normalized = _content_of(b, where, item, message_id)
    content = dict(normalized.content)
    if normalized.kind == "unknown" and text(item, "messageBody"):
        content["body"] = text(item, "messageBody")  # WASender's unified text, if any
    if not from_me and text(item, "pushName"):
        content["contact"] = {"name": text(item, "pushName")}
    errors = _errors(item.get("error"))
    failed = sent and item.get("success") is False
    if failed:
        content["send_failed"] = True
    if errors:
        content["errors"] = errors
    direction: Direction = "outbound" if from_me else "inbound"
    time = b.time(content, item.get("messageTimestamp"))
    b.add(kind=normalized.kind, direction=direction, message_id=message_id, parties=parties,
          time=time, type_=normalized.type, content=content, fragment=item,
          media=normalized.media)
    if failed:
        # The send failed: the message's status says so, like any other delivery state.
        status_content = {"send_failed": True, **({"errors": errors} if errors else {})}
        b.add(kind="status", direction="outbound", message_id=message_id, parties=parties,
              time=time, type_="status", content=status_content, fragment=item,
              status=StatusInfo("failed", parties.recipient, tuple(errors)))


def _updated_message(b: _Builder, where: str, key: dict[str, Any],
                     item: dict[str, Any]) -> None:
    """Baileys reports an edit as an update of the original message (``key``) whose
    ``message`` holds the edit; a bare new content is read as the edited text too."""
    message_id = b.message_id(where, key, item)
    from_me = _flag(key.get("fromMe"))
    normalized = normalize(obj(obj(item, "update"), "message"), media_id_prefix=None)
    content = dict(normalized.content)
    kind, type_ = normalized.kind, normalized.type
    if kind == "message":
        content = {"original_message_id": message_id, "referenced_message_id": message_id,
                   "edited": {"type": type_, **content}}
        kind, type_ = "edit", "edit"
    b.add(kind=kind, direction="outbound" if from_me else "inbound", message_id=message_id,
          parties=parties_of(key, from_me), time=b.time(content), type_=type_,
          content=content, fragment=item)


def _unknown_item(b: _Builder, where: str, key: dict[str, Any], item: dict[str, Any],
                  type_: str) -> None:
    b.problems.append(f"{where}: {type_} archived as unknown")
    from_me = _flag(key.get("fromMe"))
    content: dict[str, Any] = {}
    b.add(kind="unknown", direction="outbound" if from_me else "inbound",
          message_id=b.message_id(where, key, item), parties=parties_of(key, from_me),
          time=b.time(content), type_=type_, content=content, fragment=item)


def _status(b: _Builder, where: str, item: dict[str, Any]) -> None:
    """One ``messages.update`` item: a delivery state, or an edit or revoke of a message."""
    key = obj(item, "key")
    update = obj(item, "update")
    raw = update["status"] if "status" in update else item.get("status")
    if raw is not None:
        status = status_value(raw)
        if not status.known:
            b.problems.append(f"{where}: status value not recognized")
        _status_record(b, where, key, status, item, provider_status=raw)
    elif obj(update, "message"):
        _updated_message(b, where, key, item)
    elif "message" in update or update.get("messageStubType") in (1, "REVOKE"):
        _delete(b, where, key, item)  # Baileys: the message emptied, stub 1 (REVOKE)
    else:
        _unknown_item(b, where, key, item, "unknown:update")


def _receipt(b: _Builder, where: str, item: dict[str, Any]) -> None:
    """One ``message-receipt.update`` item: one group member's receipt of our message."""
    receipt = obj(item, "receipt")
    status = receipt_status(receipt)
    if not status.known:
        b.problems.append(f"{where}: receipt without a recognized state")
    member = clean_party(text(receipt, "userJid"))
    _status_record(b, where, obj(item, "key"), status, item, member=member)


def _status_record(b: _Builder, where: str, key: dict[str, Any], status: Status,
                   item: dict[str, Any], *, provider_status: object = None,
                   member: str | None = None) -> None:
    message_id = b.message_id(where, key, item)
    from_me = _flag(key.get("fromMe"))
    parties = parties_of(key, from_me)
    member = member or parties.member
    content: dict[str, Any] = {}
    if isinstance(provider_status, str | int) and not isinstance(provider_status, bool):
        content["provider_status"] = provider_status
    if member:
        content["member"] = member
    # A status of our message names its reader; of the customer's, the firm read it.
    recipient = (member or parties.recipient) if from_me else parties.recipient
    time = b.time(content, status.time)
    b.add(kind="status", direction="outbound" if from_me else "inbound", message_id=message_id,
          parties=parties, time=time, type_="status", content=content, fragment=item,
          status=StatusInfo(status.value, recipient), recipient=recipient)


def _reaction(b: _Builder, where: str, item: dict[str, Any]) -> None:
    """One ``messages.reaction`` item: ``key`` is the reacted-to message, ``reaction.key``
    the reaction's own (Baileys), which the docs' example shows equal to ``key``."""
    target_key = obj(item, "key")
    reaction = obj(item, "reaction")
    own_key = obj(reaction, "key") or target_key
    message_id = b.message_id(where, own_key, item)
    from_me = _flag(own_key.get("fromMe"))
    parties = parties_of(own_key if "remoteJid" in own_key else target_key, from_me)
    content = reaction_content(text(target_key, "id"), text(reaction, "text"))
    time = b.time(content, reaction.get("senderTimestampMs"))
    b.add(kind="reaction", direction="outbound" if from_me else "inbound",
          message_id=message_id, parties=parties, time=time, type_="reaction",
          content=content, fragment=item)


def _delete(b: _Builder, where: str, key: dict[str, Any], fragment: dict[str, Any]) -> None:
    """A message deleted for everyone (``messages.delete`` names it by its key)."""
    message_id = b.message_id(where, key, fragment)
    from_me = _flag(key.get("fromMe"))
    content: dict[str, Any] = {"original_message_id": message_id,
                               "referenced_message_id": message_id}
    b.add(kind="delete", direction="outbound" if from_me else "inbound", message_id=message_id,
          parties=parties_of(key, from_me), time=b.time(content), type_="revoke",
          content=content, fragment=fragment)


Handler = Callable[[_Builder, str, dict[str, Any]], None]
# Per event: the handler, the keys of ``data`` that may hold its items, and the keys that
# mark ``data`` itself as one item.
_ROUTES: dict[str, tuple[Handler, tuple[str, ...], tuple[str, ...]]] = {
    **{name: (_message, ("messages",), ("key", "message")) for name in MESSAGE_EVENTS},
    STATUS_EVENT: (_status, ("updates",), ("key", "update")),
    RECEIPT_EVENT: (_receipt, ("message", "receipts"), ("key", "receipt")),
    REACTION_EVENT: (_reaction, ("reactions",), ("key", "reaction")),
    DELETE_EVENT: (lambda b, w, key: _delete(b, w, key, key), ("keys",), ("id",)),
}


def _items(data: object, wrappers: tuple[str, ...],
           markers: tuple[str, ...]) -> list[tuple[str, object]] | None:
    """The event's items with their paths: ``data`` may be a list, hold them under a
    wrapper key (as a list or one object), or be the one item; None if none of these."""
    if isinstance(data, list):
        return [(f"data[{i}]", value) for i, value in enumerate(data)]
    if not isinstance(data, dict):
        return None
    for wrapper in wrappers:
        if wrapper in data:
            held = data[wrapper]
            if isinstance(held, list):
                return [(f"data.{wrapper}[{i}]", value) for i, value in enumerate(held)]
            return [(f"data.{wrapper}", held)]
    return [("data", data)] if any(marker in data for marker in markers) else None


def _system_content(name: str, data: object) -> tuple[dict[str, Any], str | None]:
    """A few searchable facts of an account event; the fragment keeps the rest."""
    content: dict[str, Any] = {"event": name}
    customer = None
    if name == "session.status" and isinstance(data, dict):
        content["session"] = pick(data, "status")
    elif name in ("call", "call.received"):
        call = obj(data, "call")
        content["call"] = pick(call, "id", "isGroup", "isVideo", "status", "date")
        customer = clean_party(text(call, "from"))
    elif name == "group-participants.update" and isinstance(data, dict):
        content["group"] = pick(data, "action")
        customer = text(data, "jid") or text(data, "id")
    return content, customer


def _walk(b: _Builder, document: Any) -> None:
    if not isinstance(document, dict):
        b.problems.append("body is not a JSON object")
        return
    name = text(document, "event")
    b.name = name or ""
    b.envelope_time = document.get("timestamp")
    data = document.get("data")
    if name is None:
        b.problems.append("body has no event name; archived as unknown")
        b.envelope_event("unknown", "unknown:event", document, {})
        return
    route = _ROUTES.get(name)
    if route is None:
        if name in SYSTEM_EVENTS:
            content, customer = _system_content(name, data)
            b.envelope_event("system", f"event:{name}", document, content, customer)
        else:
            b.problems.append(f"event {name[:40]!r} not recognized; archived as unknown")
            b.envelope_event("unknown", f"unknown:event:{name[:80]}", document,
                             {"event": name[:200]})
        return
    handle, wrappers, markers = route
    found = _items(data, wrappers, markers)
    if found is None:
        b.problems.append(f"event {name!r}: data holds no items; archived as unknown")
        b.envelope_event("unknown", f"unknown:shape:{name}", document, {"event": name})
        return
    for where, item in found:
        if isinstance(item, dict):
            handle(b, where, item)
        else:
            b.problems.append(f"{where}: not an object")


def parse_wasender(body: bytes, *, received_at: datetime) -> ParseResult:
    """Canonical events of a WASender webhook body plus the problems found; never raises.

    ``received_at`` is the fallback time for an event without a usable provider time;
    such events carry ``content["timestamp_missing"] = True``.
    """
    try:
        fallback = received_at if received_at.tzinfo is not None else None
        document, problem = load_body(body)
        if problem is not None:
            return ParseResult(events=(), problems=(problem,))
        builder = _Builder(fallback, sha256_hex(bytes(body)))
        _walk(builder, document)
        return ParseResult(events=tuple(builder.events), problems=tuple(builder.problems))
    except Exception as exc:  # the contract is "never raises"; the raw body is kept upstream
        return ParseResult(events=(), problems=(f"parser failure: {type(exc).__name__}",))
