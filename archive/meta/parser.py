"""Split a Meta Cloud API webhook body into canonical events. Never raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archive.canonical import sha256_hex
from archive.dispatch import ItemRoute, dispatch_items
from archive.events import CanonicalEvent, Direction, EventKind, StatusInfo
from archive.identity import scoped_id
from archive.meta.body import load_body
from archive.meta.calls import CALL_EVENTS, CALL_TYPE, normalize_call
from archive.meta.messages import normalize_message
from archive.meta.shapes import dicts, items, obj, pick, text
from archive.parse_result import ParseResult
from archive.timestamps import from_unix_seconds

PROVIDER = "meta"
FIELD_MESSAGES = "messages"
FIELD_ECHOES = "smb_message_echoes"
FIELD_CALLS = "calls"
# Keys of a change value that the parser understands, per field; anything else is archived
# as unknown (so a "calls" list inside a messages change is still flagged, not dropped).
_COMMON_VALUE_KEYS = frozenset({"messaging_product", "metadata", "contacts", "errors"})
_MESSAGE_VALUE_KEYS = _COMMON_VALUE_KEYS | {"messages", "statuses", "message_echoes"}
_KNOWN_VALUE_KEYS: dict[str, frozenset[str]] = {
    FIELD_MESSAGES: _MESSAGE_VALUE_KEYS,
    FIELD_ECHOES: _MESSAGE_VALUE_KEYS,
    FIELD_CALLS: _COMMON_VALUE_KEYS | {"calls", "statuses"},
}
# Used only when the provider time is missing and the caller passed no received_at.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _ChangeContext:
    """What one ``entry[].changes[]`` item says about the business side and its contacts."""

    field: str
    phone_number_id: str | None
    display: str | None
    business_id: str
    profiles: dict[str, dict[str, Any]]
    sole_contact: str | None

    @property
    def business_party(self) -> str | None:
        return self.display or self.phone_number_id

    @property
    def business_spellings(self) -> frozenset[str]:
        return frozenset(v for v in (self.display, self.phone_number_id) if v)


class _Builder:
    def __init__(self, received_at: datetime | None, body_sha256: str,
                 legacy_calls: bool = False) -> None:
        self.body_sha256 = body_sha256
        self.legacy_calls = legacy_calls
        self.fallback_time = received_at.astimezone(UTC) if received_at else UNKNOWN_TIME
        self.events: list[CanonicalEvent] = []
        self.problems: list[str] = []

    def time(self, raw: object, content: dict[str, Any]) -> datetime:
        parsed = from_unix_seconds(raw)
        if parsed is not None:
            return parsed
        content["timestamp_missing"] = True
        return self.fallback_time

    def synthetic_id(self, prefix: str, fragment: object) -> str:
        # Scoped to the body: a redelivery repeats the id, the same error text in another
        # webhook does not.
        return scoped_id(prefix, self.body_sha256, fragment)

    def message(self, where: str, message: dict[str, Any], ctx: _ChangeContext,
                direction: Direction) -> None:
        normalized = normalize_message(message, legacy_calls=self.legacy_calls)
        content = dict(normalized.content)
        message_id = text(message, "id")
        if message_id is None:
            self.problems.append(f"{where}: message without id")
            message_id = self.synthetic_id("noid", message)
        sender = text(message, "from") or text(message, "from_user_id")
        if direction == "inbound" and sender is None:
            sender = ctx.sole_contact
        if direction == "inbound":
            recipient = ctx.business_party
            customer = text(message, "group_id") or sender
        else:
            recipient = text(message, "to") or text(message, "to_user_id")
            customer = text(message, "group_id") or recipient
            sender = sender or ctx.business_party
        profile = ctx.profiles.get(sender) if sender else None
        if profile:
            content["contact"] = profile
        self.events.append(CanonicalEvent(
            provider=PROVIDER, event=normalized.kind, direction=direction,
            message_id=message_id, sender=sender, recipient=recipient,
            business_id=ctx.business_id, customer_id=customer or "",
            timestamp=self.time(message.get("timestamp"), content), type=normalized.type,
            content=content, status=None, media=normalized.media, fragment=message,
        ))

    def status(self, where: str, status: dict[str, Any], ctx: _ChangeContext) -> None:
        value = text(status, "status")
        if value is None:
            self.problems.append(f"{where}: status without a status value")
            value = "unknown"
        message_id = text(status, "id")
        if message_id is None:
            self.problems.append(f"{where}: status without id")
            message_id = self.synthetic_id("noid", status)
        recipient = text(status, "recipient_id") or text(status, "recipient_user_id")
        content: dict[str, Any] = pick(
            status, "recipient_type", "biz_opaque_callback_data", "type", "recipient_user_id",
            "recipient_parent_user_id", "recipient_participant_id",
        )
        profile = ctx.profiles.get(recipient) if recipient else None
        if profile:
            content["contact"] = profile
        info = StatusInfo(
            value=value, recipient=recipient, errors=dicts(items(status, "errors")),
            pricing=obj(status, "pricing") or None,
            conversation=obj(status, "conversation") or None,
        )
        # "deleted" reports a customer deleting their own (inbound) message.
        kind: EventKind = "delete" if value == "deleted" else "status"
        direction: Direction = "inbound" if value == "deleted" else "outbound"
        self.events.append(CanonicalEvent(
            provider=PROVIDER, event=kind, direction=direction, message_id=message_id,
            sender=ctx.business_party, recipient=recipient,
            business_id=ctx.business_id, customer_id=recipient or "",
            timestamp=self.time(status.get("timestamp"), content), type="status",
            content=content, status=info, media=(), fragment=status,
        ))

    def call(self, where: str, item: dict[str, Any], ctx: _ChangeContext, *, status_item: bool,
             errors_beside: tuple[dict[str, Any], ...]) -> None:
        """One call event: a ``calls[]`` item (connect/terminate) or a call status."""
        call_id = text(item, "id")
        if call_id is None:
            self.problems.append(f"{where}: call without id")
            call_id = self.synthetic_id("noid", item)
        event = "status" if status_item else (text(item, "event") or "").strip().lower()
        if event not in CALL_EVENTS:
            # Kept as sent (lowercase): a call event Meta adds later is still a call record.
            self.problems.append(f"{where}: call event {event[:40]!r} not recognized")
            event = event or "unknown"
        facts = normalize_call(item, event, call_id=call_id, business=ctx.business_spellings,
                               business_party=ctx.business_party, errors_beside=errors_beside)
        content: dict[str, Any] = {"call": facts.call}
        if facts.call["errors"]:
            content["errors"] = facts.call["errors"]  # where every other event keeps errors
        customer = facts.customer or ctx.sole_contact or ""
        # As for messages: a user-initiated call without "from" is its sole contact's.
        sender = facts.sender or (ctx.sole_contact if facts.direction == "inbound" else None)
        profile = ctx.profiles.get(customer) if customer else None
        if profile:
            content["contact"] = profile
        # The status object makes the pipeline keep the call's latest state (it updates the
        # latest-status row of every event that has one); its value is the call state.
        info = StatusInfo(value=facts.state, recipient=customer or None,
                          errors=tuple(facts.call["errors"]))
        self.events.append(CanonicalEvent(
            provider=PROVIDER, event="call", direction=facts.direction, message_id=call_id,
            sender=sender, recipient=facts.recipient, business_id=ctx.business_id,
            customer_id=customer, timestamp=self.time(item.get("timestamp"), content),
            type=CALL_TYPE, content=content, status=info, media=(), fragment=item,
        ))

    def webhook_errors(self, where: str, errors: list[Any], ctx: _ChangeContext,
                       entry_time: object) -> None:
        for error in dicts(errors):
            code = text(error, "code") or "?"
            self.problems.append(f"{where}: webhook error {code}: {text(error, 'title') or ''}")
            self.system("webhook_error", error, ctx, entry_time)

    def unknown(self, kind: str, fragment: dict[str, Any], ctx: _ChangeContext,
                entry_time: object) -> None:
        self._not_a_message("unknown", f"unknown:{kind}", fragment, ctx, entry_time)

    def system(self, kind: str, fragment: dict[str, Any], ctx: _ChangeContext,
               entry_time: object) -> None:
        self._not_a_message("system", kind, fragment, ctx, entry_time)

    def _not_a_message(self, event: EventKind, kind: str, fragment: dict[str, Any],
                       ctx: _ChangeContext, entry_time: object) -> None:
        content: dict[str, Any] = {"field": ctx.field}
        raw_time = fragment.get("timestamp", entry_time)
        self.events.append(CanonicalEvent(
            provider=PROVIDER, event=event, direction="inbound",
            message_id=self.synthetic_id(kind.replace(":", "-"), fragment), sender=None,
            recipient=None, business_id=ctx.business_id, customer_id="",
            timestamp=self.time(raw_time, content), type=kind, content=content, status=None,
            media=(), fragment=fragment,
        ))


def _context(entry: dict[str, Any], field: str, value: dict[str, Any]) -> _ChangeContext:
    metadata = obj(value, "metadata")
    profiles: dict[str, dict[str, Any]] = {}
    for contact in dicts(items(value, "contacts")):
        profile = obj(contact, "profile")
        summary = {**pick(profile, "name", "username"),
                   **pick(contact, "wa_id", "user_id", "parent_user_id")}
        for key in ("wa_id", "user_id", "parent_user_id"):
            if text(contact, key):
                profiles[str(text(contact, key))] = summary
    contacts = dicts(items(value, "contacts"))
    # A message without "from" (username-only users) is attributed to its sole contact.
    sole_contact = (
        (text(contacts[0], "wa_id") or text(contacts[0], "user_id")) if len(contacts) == 1
        else None
    )
    phone_number_id = text(metadata, "phone_number_id")
    return _ChangeContext(
        field=field,
        phone_number_id=phone_number_id,
        display=text(metadata, "display_phone_number"),
        business_id=phone_number_id or text(entry, "id") or "",
        profiles=profiles,
        sole_contact=sole_contact,
    )


@dataclass(frozen=True)
class _Scope:
    builder: _Builder
    ctx: _ChangeContext
    # value.errors of a calls change: they describe its calls, so they go into each record.
    call_errors: tuple[dict[str, Any], ...] = ()


def _inbound(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    scope.builder.message(where, item, scope.ctx, "inbound")


def _echo(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    # An echo is a message the business sent from the WhatsApp Business app.
    scope.builder.message(where, item, scope.ctx, "outbound")


def _status(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    scope.builder.status(where, item, scope.ctx)


def _call(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    scope.builder.call(where, item, scope.ctx, status_item=False,
                       errors_beside=scope.call_errors)


def _call_status(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    scope.builder.call(where, item, scope.ctx, status_item=True,
                       errors_beside=scope.call_errors)


# Which item lists of a change value each field carries; any other field is a system event.
_ROUTES: dict[str, tuple[ItemRoute[_Scope], ...]] = {
    FIELD_MESSAGES: (ItemRoute("messages", _inbound), ItemRoute("statuses", _status)),
    FIELD_ECHOES: (ItemRoute("message_echoes", _echo),),
    FIELD_CALLS: (ItemRoute("calls", _call), ItemRoute("statuses", _call_status)),
}


def _has_items(value: dict[str, Any], routes: tuple[ItemRoute[_Scope], ...]) -> bool:
    return any(dicts(items(value, route.key)) for route in routes)


def _change(builder: _Builder, where: str, entry: dict[str, Any], change: object) -> None:
    if not isinstance(change, dict):
        builder.problems.append(f"{where}: change is not an object")
        return
    field = text(change, "field") or ""
    value = obj(change, "value")
    ctx = _context(entry, field, value)
    if not value:
        builder.problems.append(f"{where}: change has no value object")
    # Before issue #19 a calls change was one system event; legacy_calls re-derives that.
    routes = None if field == FIELD_CALLS and builder.legacy_calls else _ROUTES.get(field)
    errors = items(value, "errors")
    call_errors: tuple[dict[str, Any], ...] = ()
    if field == FIELD_CALLS and routes is not None and _has_items(value, routes):
        # A failed call's errors come beside it: they belong to its record, and a call
        # that failed is not a webhook the archive failed to take in.
        call_errors, errors = dicts(errors), []
    if routes is None:
        # Account, template and sync fields are not messages, but still evidence.
        builder.system(f"field:{field or 'missing'}", dict(change), ctx, entry.get("time"))
    else:
        dispatch_items(value, where, routes, _Scope(builder, ctx, call_errors), builder.problems)
    builder.webhook_errors(where, errors, ctx, entry.get("time"))
    if routes is not None:
        for key in sorted(set(value) - _KNOWN_VALUE_KEYS[field]):
            builder.problems.append(f"{where}: unrecognized value key {key[:40]!r} archived")
            builder.unknown(f"value:{key}", {key: value[key]}, ctx, entry.get("time"))


def _walk(builder: _Builder, document: Any) -> None:
    if not isinstance(document, dict):
        builder.problems.append("body is not a JSON object")
        return
    if document.get("object") != "whatsapp_business_account":
        builder.problems.append("object is not whatsapp_business_account")
    entries = document.get("entry")
    if not isinstance(entries, list):
        builder.problems.append("body has no entry list")
        return
    for e, entry in enumerate(entries):
        if not isinstance(entry, dict):
            builder.problems.append(f"entry[{e}]: not an object")
            continue
        changes = entry.get("changes")
        if not isinstance(changes, list):
            builder.problems.append(f"entry[{e}]: no changes list")
            continue
        for c, change in enumerate(changes):
            _change(builder, f"entry[{e}].changes[{c}]", entry, change)


def parse_webhook(
    raw_body: bytes, *, received_at: datetime | None = None, legacy_calls: bool = False
) -> ParseResult:
    """Canonical events of a webhook body plus problems found; never raises.

    ``received_at`` is the fallback time for an event whose provider timestamp is missing or
    invalid; such events carry ``content["timestamp_missing"] = True``.

    ``legacy_calls=True`` parses as before issue #19 (a ``calls`` change is one ``system``
    event of type ``field:calls``; a call permission reply is a generic interactive reply),
    so a record written then can still be re-derived from its raw body and checked.
    """
    try:
        if received_at is not None and received_at.tzinfo is None:
            received_at = None
        document, problem = load_body(raw_body)
        if problem is not None:
            return ParseResult(events=(), problems=(problem,))
        builder = _Builder(received_at, sha256_hex(bytes(raw_body)), legacy_calls)
        _walk(builder, document)
        return ParseResult(events=tuple(builder.events), problems=tuple(builder.problems))
    except Exception as exc:  # the contract is "never raises"; the raw body is kept upstream
        return ParseResult(events=(), problems=(f"parser failure: {type(exc).__name__}",))
