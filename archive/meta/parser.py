"""Split a Meta Cloud API webhook body into canonical events. Never raises."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archive.canonical import canonical_json, sha256_hex
from archive.dispatch import ItemRoute, dispatch_items
from archive.events import CanonicalEvent, Direction, EventKind, StatusInfo
from archive.meta.messages import normalize_message
from archive.meta.shapes import dicts, items, obj, pick, text
from archive.timestamps import from_unix_seconds

PROVIDER = "meta"
FIELD_MESSAGES = "messages"
FIELD_ECHOES = "smb_message_echoes"
# Keys of a change value that the parser understands; anything else is archived as unknown.
_KNOWN_VALUE_KEYS = frozenset(
    {"messaging_product", "metadata", "contacts", "messages", "statuses", "errors",
     "message_echoes"}
)
MAX_DEPTH = 64
# Used only when the provider time is missing and the caller passed no received_at.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ParseResult:
    events: tuple[CanonicalEvent, ...]
    problems: tuple[str, ...]  # ids, paths and error codes only; never message content


# A JSON string token (skipped whole) or one bracket; the unrolled form avoids backtracking.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _text_too_deep(document: str) -> bool:
    """Bracket depth before parsing, so the C JSON parser never recurses deeply.

    The JSON decoder only stops at the interpreter's recursion limit, which a host may
    raise far above what the C stack tolerates.
    """
    if document.count("[") + document.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for match in _TOKENS.finditer(document):
        lexeme = match.group()
        if lexeme in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif lexeme in ("]", "}"):
            depth -= 1
    return False


def _too_deep(value: Any) -> bool:
    # Iterative, so a hostile document cannot exhaust the stack here or downstream.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


def _load(raw_body: bytes) -> tuple[Any, str | None]:
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        return None, "body is not bytes"
    try:
        document = bytes(raw_body).decode("utf-8")
    except UnicodeDecodeError:
        return None, "body is not valid UTF-8"
    if _text_too_deep(document):
        return None, "body nests too deeply"
    try:
        value = json.loads(document, parse_constant=_reject_constant)
    except RecursionError:
        return None, "body nests too deeply"
    except ValueError:
        return None, "body is not valid JSON"
    if _too_deep(value):
        return None, "body nests too deeply"
    return value, None


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


class _Builder:
    def __init__(self, received_at: datetime | None, body_sha256: str) -> None:
        self.body_sha256 = body_sha256
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
        # webhook does not (it would otherwise be mistaken for a duplicate).
        return f"{prefix}-{sha256_hex(canonical_json([self.body_sha256, fragment]))[:32]}"

    def message(self, where: str, message: dict[str, Any], ctx: _ChangeContext,
                direction: Direction) -> None:
        normalized = normalize_message(message)
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


def _inbound(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    scope.builder.message(where, item, scope.ctx, "inbound")


def _echo(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    # An echo is a message the business sent from the WhatsApp Business app.
    scope.builder.message(where, item, scope.ctx, "outbound")


def _status(scope: _Scope, where: str, item: dict[str, Any]) -> None:
    scope.builder.status(where, item, scope.ctx)


# Which item lists of a change value each field carries; any other field is a system event.
_ROUTES: dict[str, tuple[ItemRoute[_Scope], ...]] = {
    FIELD_MESSAGES: (ItemRoute("messages", _inbound), ItemRoute("statuses", _status)),
    FIELD_ECHOES: (ItemRoute("message_echoes", _echo),),
}


def _change(builder: _Builder, where: str, entry: dict[str, Any], change: object) -> None:
    if not isinstance(change, dict):
        builder.problems.append(f"{where}: change is not an object")
        return
    field = text(change, "field") or ""
    value = obj(change, "value")
    ctx = _context(entry, field, value)
    if not value:
        builder.problems.append(f"{where}: change has no value object")
    routes = _ROUTES.get(field)
    if routes is None:
        # Account, template and sync fields are not messages, but still evidence.
        builder.system(f"field:{field or 'missing'}", dict(change), ctx, entry.get("time"))
    else:
        dispatch_items(value, where, routes, _Scope(builder, ctx), builder.problems)
    builder.webhook_errors(where, items(value, "errors"), ctx, entry.get("time"))
    if routes is not None:
        for key in sorted(set(value) - _KNOWN_VALUE_KEYS):
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


def parse_webhook(raw_body: bytes, *, received_at: datetime | None = None) -> ParseResult:
    """Canonical events of a webhook body plus problems found; never raises.

    ``received_at`` is the fallback time for an event whose provider timestamp is missing or
    invalid; such events carry ``content["timestamp_missing"] = True``.
    """
    try:
        if received_at is not None and received_at.tzinfo is None:
            received_at = None
        document, problem = _load(raw_body)
        if problem is not None:
            return ParseResult(events=(), problems=(problem,))
        builder = _Builder(received_at, sha256_hex(bytes(raw_body)))
        _walk(builder, document)
        return ParseResult(events=tuple(builder.events), problems=tuple(builder.problems))
    except Exception as exc:  # the contract is "never raises"; the raw body is kept upstream
        return ParseResult(events=(), problems=(f"parser failure: {type(exc).__name__}",))
