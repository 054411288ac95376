"""Split one Twilio webhook (an incoming message or a status callback) into events. Never raises.

A Twilio webhook is one form-encoded body about one message, so it yields one event:

- an incoming message (no ``MessageStatus``; ``SmsStatus=received``): ``message``
  (``unknown`` for a ``MessageType`` the adapter does not know), inbound, from the
  customer (``From``) to the firm's WhatsApp sender (``To``);
- a status callback (``MessageStatus``) for a message the firm sent: ``status``,
  outbound, from the firm (``From``) to the customer (``To``); an unknown status value
  is archived as ``unknown`` (type ``unknown:status``);
- a body without a ``MessageSid``: ``unknown`` (type ``unknown:no_message_sid``) under
  a synthetic id ``twilio-noid-<hash of the body>``, which a redelivery repeats.

The fragment of every event is the whole form as a dict of lists. Twilio sends no event
time, so the time is ``received_at`` and ``content.timestamp_missing`` is true; the event's
identity (archive.identity) leaves such a time out, so a redelivery is the same event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from archive.canonical import sha256_hex
from archive.events import CanonicalEvent, Direction, EventKind, MediaRef, StatusInfo
from archive.identity import scoped_id
from archive.parse_result import ParseResult
from archive.twilio.fields import error_entry, party
from archive.twilio.form import Params, decode_form, first, present, repeated
from archive.twilio.messages import normalize_inbound
from archive.twilio.statuses import INBOUND_STATUSES, lifecycle_status

PROVIDER = "twilio"
# Used only when the caller's received_at is not timezone-aware (never in the pipeline).
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
_SID_NAMES = ("MessageSid", "SmsMessageSid", "SmsSid")


class _Webhook:
    """One decoded body and what every event built from it shares."""

    def __init__(self, params: Params, body_sha256: str, time: datetime) -> None:
        self.params = params
        self.body_sha256 = body_sha256
        self.time = time
        self.problems: list[str] = []

    def message_id(self) -> str | None:
        for name in _SID_NAMES:
            value = present(self.params, name)
            if value is not None:
                return value.strip()
        return None

    def synthetic_id(self) -> str:
        # Scoped to the body: a redelivery repeats it, another body never does.
        return scoped_id("twilio-noid", self.body_sha256, "noid")

    def event(self, *, kind: EventKind, direction: Direction, message_id: str, sender: str | None,
              recipient: str | None, business: str | None, customer: str | None,
              type_: str, content: dict[str, Any], status: StatusInfo | None = None,
              media: tuple[MediaRef, ...] = ()) -> CanonicalEvent:
        # Twilio's webhooks carry no event time: the receive time stands in, and says so.
        content["timestamp_missing"] = True
        return CanonicalEvent(
            provider=PROVIDER, event=kind, direction=direction, message_id=message_id,
            sender=sender, recipient=recipient, business_id=business or "",
            customer_id=customer or "", timestamp=self.time, type=type_, content=content,
            status=status, media=media, fragment=self.params,
        )


def _status_value(params: Params) -> str | None:
    """What the webhook says about delivery: MessageStatus, else a non-inbound SmsStatus."""
    value = present(params, "MessageStatus")
    if value is None:
        sms_status = present(params, "SmsStatus")
        if sms_status is not None and sms_status.strip().lower() not in INBOUND_STATUSES:
            value = sms_status
    if value is not None and value.strip().lower() in INBOUND_STATUSES:
        return None
    return value


def _inbound(hook: _Webhook, message_id: str) -> CanonicalEvent:
    normalized = normalize_inbound(hook.params, hook.problems)
    sender = party(present(hook.params, "From"))
    if sender is None:
        sender = party(present(hook.params, "WaId"))
    recipient = party(present(hook.params, "To"))
    return hook.event(
        kind=normalized.kind, direction="inbound", message_id=message_id, sender=sender,
        recipient=recipient, business=recipient, customer=sender, type_=normalized.type,
        content=dict(normalized.content), media=normalized.media,
    )


def _status(hook: _Webhook, message_id: str, raw_status: str) -> CanonicalEvent:
    business = party(present(hook.params, "From"))
    customer = party(present(hook.params, "To"))
    error = error_entry(first(hook.params, "ErrorCode"), first(hook.params, "ErrorMessage"))
    errors = (error,) if error else ()
    value = lifecycle_status(raw_status)
    content: dict[str, Any] = {"provider_status": raw_status}
    if value is None:
        hook.problems.append(
            f"MessageStatus {raw_status[:40]!r} not recognized; archived as unknown"
        )
        info = StatusInfo(value=raw_status, recipient=customer, errors=errors)
        return hook.event(
            kind="unknown", direction="outbound", message_id=message_id, sender=business,
            recipient=customer, business=business, customer=customer, type_="unknown:status",
            content=content, status=info,
        )
    return hook.event(
        kind="status", direction="outbound", message_id=message_id, sender=business,
        recipient=customer, business=business, customer=customer, type_="status",
        content=content, status=StatusInfo(value=value, recipient=customer, errors=errors),
    )


def _unidentified(hook: _Webhook, looks_like_status: bool) -> CanonicalEvent:
    hook.problems.append("webhook without MessageSid archived as unknown")
    sender = party(present(hook.params, "From"))
    recipient = party(present(hook.params, "To"))
    # Which side is the firm is unknown without a message; the parties stay as given.
    direction: Direction = "outbound" if looks_like_status else "inbound"
    return hook.event(
        kind="unknown", direction=direction, message_id=hook.synthetic_id(), sender=sender,
        recipient=recipient, business=None, customer=None, type_="unknown:no_message_sid",
        content={},
    )


def _walk(hook: _Webhook) -> CanonicalEvent:
    for name in repeated(hook.params):
        hook.problems.append(f"parameter {name[:40]!r} given more than once; first value used")
    raw_status = _status_value(hook.params)
    message_id = hook.message_id()
    if message_id is None:
        return _unidentified(hook, raw_status is not None)
    if raw_status is not None:
        return _status(hook, message_id, raw_status.strip())
    return _inbound(hook, message_id)


def parse_twilio(body: bytes, *, received_at: datetime) -> ParseResult:
    """Canonical events of a Twilio webhook body plus problems found; never raises.

    Deterministic in (body, received_at): custody checks re-derive records from the raw
    body. A body that is not a form (bad encoding) yields no events and one problem; its
    raw bytes are kept upstream. Problems hold parameter names and ids, never content.
    """
    try:
        aware = received_at.tzinfo is not None and received_at.utcoffset() is not None
        time = received_at.astimezone(UTC) if aware else UNKNOWN_TIME
        params, problem = decode_form(body)
        if problem is not None:
            return ParseResult(events=(), problems=(problem,))
        if not params:
            return ParseResult(events=(), problems=("body has no form fields",))
        hook = _Webhook(params, sha256_hex(bytes(body)), time)
        event = _walk(hook)
        return ParseResult(events=(event,), problems=tuple(hook.problems))
    except Exception as exc:  # the contract is "never raises"; the raw body is kept upstream
        return ParseResult(events=(), problems=(f"parser failure: {type(exc).__name__}",))
