"""Split an Event Grid delivery of ACS Advanced Messaging events into canonical events.

Never raises. Mapping (see docs/providers.md, ACS):

- ``Microsoft.Communication.AdvancedMessageReceived`` (channel ``whatsapp``): a ``message``
  (or ``reaction``), inbound, from the customer (``from``) to the firm's ACS channel
  registration (``to``, a GUID).
- ``Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated`` (``whatsapp``): a
  ``status``, outbound, from the channel (``from``) to the customer (``to``); ACS's
  ``Sent``/``Delivered``/``Read``/``Failed`` become the shared lowercase lifecycle values.
- The business side of the conversation is always the channel registration id, the
  customer the WhatsApp user, so a customer's inbound messages and the statuses of what
  the firm sent them share one conversation.
- ``Microsoft.EventGrid.SubscriptionValidationEvent``: the route answers it; one that
  reaches the parser (inside a batch with other events) is a ``system`` event.
- Any other event type, another channel type, or an object of neither schema: ``unknown``,
  with its data (or envelope) verbatim, plus a problem. Nothing is dropped.

Identity: an event is keyed by what ACS says in ``data`` (message id, event type, status,
time), never by the Event Grid envelope, whose id and layout differ between the Event
Grid and CloudEvents schemas. ``fragment`` is the verbatim ``data`` object, so the same
ACS event delivered in either schema, or redelivered, yields the same canonical event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from archive.acs.envelope import Envelope, envelopes
from archive.acs.messages import normalize_received
from archive.events import CanonicalEvent, Direction, EventKind, StatusInfo
from archive.identity import scoped_id
from archive.meta.body import load_body
from archive.meta.shapes import obj, text
from archive.parse_result import ParseResult
from archive.timestamps import from_iso

PROVIDER = "acs"
EVENT_RECEIVED = "Microsoft.Communication.AdvancedMessageReceived"
EVENT_STATUS = "Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated"
EVENT_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
CHANNEL_WHATSAPP = "whatsapp"
VALIDATION_TYPE = "event_grid:subscription_validation"
# Used only when no time is usable and the caller passed no received_at.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# The validation URL carries a one-time token: not kept in the record (the raw body has it).
_REDACTED = "(one-time validation URL, not kept in the record)"


def _iso(value: object) -> datetime | None:
    return from_iso(value) if isinstance(value, str) and len(value) <= 64 else None


class _Builder:
    def __init__(self, received_at: datetime | None) -> None:
        self.fallback_time = received_at.astimezone(UTC) if received_at else UNKNOWN_TIME
        self.events: list[CanonicalEvent] = []
        self.problems: list[str] = []

    def time(self, data: dict[str, Any], env: Envelope, content: dict[str, Any]) -> datetime:
        """ACS's receivedTimestamp, else Event Grid's event time, else the receive time."""
        parsed = _iso(data.get("receivedTimestamp"))
        if parsed is not None:
            return parsed
        parsed = _iso(env.time)
        if parsed is not None:
            content["timestamp_from_event_time"] = True
            return parsed
        self.problems.append(f"{env.path}: no usable time")
        content["timestamp_missing"] = True
        return self.fallback_time

    def message_id(self, env: Envelope, data: dict[str, Any], prefix: str,
                   fragment: object) -> str:
        found = text(data, "messageId")
        if found is not None:
            return found
        if prefix == "noid":
            self.problems.append(f"{env.path}: event without messageId")
        # From the event type and its verbatim data: a redelivery (in either schema)
        # repeats it, while another event differs at least in its time or parties.
        return scoped_id(prefix, env.event_type, fragment)

    def add(self, env: Envelope, *, event: EventKind, direction: Direction, message_id: str,
            sender: str | None, recipient: str | None, business: str, customer: str,
            timestamp: datetime, type_: str, content: dict[str, Any],
            fragment: dict[str, Any], status: StatusInfo | None = None,
            media: tuple[Any, ...] = ()) -> None:
        self.events.append(CanonicalEvent(
            provider=PROVIDER, event=event, direction=direction, message_id=message_id,
            sender=sender, recipient=recipient, business_id=business, customer_id=customer,
            timestamp=timestamp, type=type_, content={"event_type": env.event_type, **content},
            status=status, media=media, fragment=fragment,
        ))

    def received(self, env: Envelope, data: dict[str, Any]) -> None:
        normalized = normalize_received(data)
        content = dict(normalized.content)
        customer, channel = text(data, "from"), text(data, "to")
        self.add(env, event=normalized.kind, direction="inbound",
                 message_id=self.message_id(env, data, "noid", data), sender=customer,
                 recipient=channel, business=channel or "", customer=customer or "",
                 timestamp=self.time(data, env, content), type_=normalized.type,
                 content=content, fragment=data, media=normalized.media)

    def status(self, env: Envelope, data: dict[str, Any]) -> None:
        raw_value = text(data, "status")
        if raw_value is None:
            self.problems.append(f"{env.path}: status event without a status value")
        value = (raw_value or "unknown").strip().lower() or "unknown"
        channel, customer = text(data, "from"), text(data, "to")
        error = obj(data, "error")
        errors = (
            ({"code": text(error, "channelCode"), "title": text(error, "channelMessage")},)
            if error else ()
        )
        content: dict[str, Any] = {"errors": list(errors)} if errors else {}
        self.add(env, event="status", direction="outbound",
                 message_id=self.message_id(env, data, "noid", data), sender=channel,
                 recipient=customer, business=channel or "", customer=customer or "",
                 timestamp=self.time(data, env, content), type_="status", content=content,
                 fragment=data, status=StatusInfo(value=value, recipient=customer,
                                                  errors=errors))

    def validation(self, env: Envelope, data: dict[str, Any]) -> None:
        fragment = dict(data)
        if "validationUrl" in fragment:
            fragment["validationUrl"] = _REDACTED
        content: dict[str, Any] = {}
        self.add(env, event="system", direction="inbound",
                 message_id=self.message_id(env, {}, "validation", fragment), sender=None,
                 recipient=None, business="", customer="",
                 timestamp=self.time({}, env, content), type_=VALIDATION_TYPE,
                 content=content, fragment=fragment)

    def unknown(self, env: Envelope, kind: str, fragment: dict[str, Any],
                parties: tuple[str | None, str | None] | None) -> None:
        """An event not understood: kept with its fragment; ``parties``: (business, customer)."""
        data = env.data_object or {}
        content: dict[str, Any] = {}
        business, customer = parties or (None, None)
        self.add(env, event="unknown", direction="inbound",
                 message_id=self.message_id(env, data, "unknown", fragment),
                 sender=text(data, "from"), recipient=text(data, "to"),
                 business=business or "", customer=customer or "",
                 timestamp=self.time(data, env, content), type_=f"unknown:{kind}",
                 content=content, fragment=fragment)


def _route(builder: _Builder, env: Envelope) -> None:
    data = env.data_object
    if env.schema == "unknown":
        builder.problems.append(f"{env.path}: neither an Event Grid event nor a CloudEvent")
        builder.unknown(env, "envelope", env.item, None)
        return
    if data is None:
        builder.problems.append(f"{env.path}: event data is not an object")
        builder.unknown(env, f"event:{env.event_type or 'missing'}",
                        {"data": env.data} if env.data is not None else env.item, None)
        return
    if env.event_type == EVENT_VALIDATION:
        builder.validation(env, data)
        return
    if env.event_type not in (EVENT_RECEIVED, EVENT_STATUS):
        builder.problems.append(f"{env.path}: event type not handled, archived as unknown")
        builder.unknown(env, f"event:{env.event_type or 'missing'}", data, None)
        return
    received = env.event_type == EVENT_RECEIVED
    channel_type = (text(data, "channelType") or "").strip().lower()
    if channel_type != CHANNEL_WHATSAPP:
        builder.problems.append(f"{env.path}: channelType is not whatsapp, archived as unknown")
        parties = ((text(data, "to"), text(data, "from")) if received
                   else (text(data, "from"), text(data, "to")))
        builder.unknown(env, f"channel:{channel_type or 'missing'}", data, parties)
        return
    if received:
        builder.received(env, data)
    else:
        builder.status(env, data)


def parse_acs(body: bytes, *, received_at: datetime) -> ParseResult:
    """Canonical events of an Event Grid delivery body plus the problems found; never raises.

    ``received_at`` is the fallback time of an event with no usable time (flagged
    ``timestamp_missing``, which keeps it out of the fingerprint).
    """
    try:
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            received_at = UNKNOWN_TIME
        document, problem = load_body(body)
        if problem is not None:
            return ParseResult(events=(), problems=(problem,))
        builder = _Builder(received_at)
        for env in envelopes(document, builder.problems):
            _route(builder, env)
        return ParseResult(events=tuple(builder.events), problems=tuple(builder.problems))
    except Exception as exc:  # the contract is "never raises"; the raw body is kept upstream
        return ParseResult(events=(), problems=(f"parser failure: {type(exc).__name__}",))
