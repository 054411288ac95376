"""Normalize the items of a Meta ``calls`` webhook change into call facts (issue #19).

A ``calls`` change carries two item lists:

- ``value.calls[]``: ``event`` ``connect`` (a call starts; it holds the WebRTC ``session``
  SDP) or ``terminate`` (it ended: ``status`` COMPLETED / FAILED / REJECTED, ``start_time``,
  ``end_time``, ``duration``), with ``direction`` USER_INITIATED or BUSINESS_INITIATED;
- ``value.statuses[]``: ``type`` ``call``, ``status`` RINGING / ACCEPTED / REJECTED of a
  business-initiated call, addressed like a message status (``recipient_id``).

Errors come on the call item or beside the calls, in ``value.errors`` (a failed call);
the caller passes the latter in, so a call's errors stay with its record.

The SDP never reaches ``content``: it is not searchable and holds network details; the
record keeps it only in the verbatim ``fragment``. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from archive.events import Direction
from archive.meta.shapes import dicts, items, text
from archive.timestamps import from_iso, from_unix_seconds, iso_utc

CALL_TYPE = "call"
USER_INITIATED = "user_initiated"
BUSINESS_INITIATED = "business_initiated"
# The three kinds of call webhook; anything else Meta may add is kept as sent (lowercase).
CALL_EVENTS = ("connect", "status", "terminate")
_MAX_DURATION = 10**9  # seconds; anything larger is not a duration


@dataclass(frozen=True)
class CallFacts:
    call: dict[str, Any]  # content["call"], the shape exports and RSMF code against
    direction: Direction  # inbound for user-initiated, outbound for business-initiated
    sender: str | None
    recipient: str | None
    customer: str | None  # the WhatsApp user: the conversation's customer side
    state: str  # shown state: the lowercase status, else the call event


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def call_time(value: object) -> str | None:
    """Meta sends unix seconds (string or int); ISO-8601 with an offset is accepted too."""
    moment = from_unix_seconds(value)
    if moment is None and isinstance(value, str):
        moment = from_iso(value)
    return iso_utc(moment) if moment is not None else None


def call_duration(value: object) -> int | None:
    """Whole seconds; a digit string is accepted, anything else is absent (never guessed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= _MAX_DURATION:
        return value
    return None


def call_errors(item: dict[str, Any], beside: Sequence[dict[str, Any]] = ()) -> list[Any]:
    """The item's own errors (a list, or one object), then the change's ``value.errors``."""
    own = item.get("errors")
    found = list(dicts(items(item, "errors"))) if isinstance(own, list) else (
        [own] if isinstance(own, dict) else []
    )
    return found + [error for error in beside if error not in found]


def _direction(item: dict[str, Any], sender: str | None, recipient: str | None,
               business: Collection[str], default: str) -> str:
    """``direction`` as Meta states it; inferred from the parties only when it is missing.

    An inferred direction is visible to an auditor: the verbatim fragment has none.
    """
    stated = _lower(text(item, "direction"))
    if stated in (USER_INITIATED, BUSINESS_INITIATED):
        return stated
    if recipient in business:
        return USER_INITIATED
    if sender in business:
        return BUSINESS_INITIATED
    return default


def normalize_call(
    item: dict[str, Any],
    event: str,
    *,
    call_id: str,
    business: Collection[str],
    business_party: str | None,
    errors_beside: Sequence[dict[str, Any]] = (),
) -> CallFacts:
    """Call facts of one ``calls[]`` item (``event`` from the item) or ``statuses[]`` item.

    ``business`` holds the firm's spellings (display number, phone_number_id) so a
    missing direction can be told from the parties; ``business_party`` stands in for a
    side the webhook leaves out, as for message statuses.
    """
    if event == "status":
        # Statuses are addressed like message statuses, to the user, from the business.
        sender = business_party
        recipient = text(item, "recipient_id") or text(item, "recipient_user_id")
        direction = _direction(item, sender, recipient, (), BUSINESS_INITIATED)
    else:
        sender = text(item, "from") or text(item, "from_user_id")
        recipient = text(item, "to") or text(item, "to_user_id")
        direction = _direction(item, sender, recipient, business, USER_INITIATED)
    if direction == USER_INITIATED:
        customer = sender
        recipient = recipient or business_party
    else:
        customer = recipient
        sender = sender or business_party
    status = _lower(text(item, "status"))
    call: dict[str, Any] = {
        "call_id": call_id,
        "direction": direction,
        "event": event,
        "status": status,
        "start_time": call_time(item.get("start_time")),
        "end_time": call_time(item.get("end_time")),
        "duration": call_duration(item.get("duration")),
        "biz_opaque_callback_data": text(item, "biz_opaque_callback_data"),
        "errors": call_errors(item, errors_beside),
    }
    return CallFacts(
        call=call,
        direction="inbound" if direction == USER_INITIATED else "outbound",
        sender=sender,
        recipient=recipient,
        customer=customer,
        state=status or event,
    )
