"""Outbound capture: validate the body of ``POST /api/outbound`` into a canonical event.

Firm systems that send through the Cloud API post what they sent::

    {"message_id": "wamid...", "to": "<customer>", "from": "<phone_number_id>",
     "timestamp": "2024-05-01T12:00:00Z" | "1714564800", "type": "text",
     "content": {"text": "..."}, "media": [{"id": "...", "mime_type": "...", "sha256": "..."}]}

A capture is signed by nobody but the caller's function key, so it is bound as tightly as
the archive can: ``from`` must be one of the firm's own sender ids (when configured), the
time must lie in a window around when the archive received it, and every part has a size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from archive.custody import METHOD_OUTBOUND
from archive.events import MEDIA_KINDS, CanonicalEvent, MediaRef
from archive.timestamps import from_iso, from_unix_seconds, require_aware

PROVIDER = "meta"
CAPTURED_VIA = "outbound_api"
_Row = TypeVar("_Row")
_TYPE_PATTERN = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
_MAX_ID_CHARS = 1024

# A firm system posts right after sending; a week covers a queue outage on its side.
# Anything older is a backfill that belongs in an export import, not in live capture.
MAX_BACKDATE = timedelta(days=7)
# Clock skew between the firm's systems and ours; a capture cannot describe the future.
MAX_FUTURE_SKEW = timedelta(minutes=5)
# Nesting levels of any top-level value (``content`` itself counts as level 1).
MAX_DEPTH = 8
# Compact UTF-8 JSON of ``content``; WhatsApp caps a text at 4,096 characters.
MAX_CONTENT_BYTES = 64 * 1024
MAX_MEDIA = 10
MAX_MEDIA_ID_CHARS = 256
_MAX_MEDIA_TEXT_CHARS = {"mime_type": 255, "sha256": 128, "filename": 1024, "kind": 32}


class OutboundError(ValueError):
    """Invalid outbound capture payload; the message says which field and why."""


def _required_text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None:
        raise OutboundError(f"'{key}' is required")
    if not isinstance(value, str) or not value.strip():
        raise OutboundError(f"'{key}' must be a non-empty string")
    if len(value) > _MAX_ID_CHARS:
        raise OutboundError(f"'{key}' is longer than {_MAX_ID_CHARS} characters")
    return value


def _depth_exceeds(value: object, limit: int) -> bool:
    # Iterative: a hostile document must not exhaust the stack here or in json.dumps.
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _check_shape(payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        if _depth_exceeds(value, MAX_DEPTH):
            raise OutboundError(f"'{str(key)[:64]}' nests deeper than {MAX_DEPTH} levels")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutboundError("body must be plain JSON (no NaN or Infinity)") from exc


def _timestamp(value: object, received_at: datetime | None) -> datetime:
    if value is None:
        raise OutboundError("'timestamp' is required")
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int or (isinstance(value, str) and value.isdigit()):
        parsed = from_unix_seconds(value)
    elif isinstance(value, str):
        parsed = from_iso(value)
    else:
        parsed = None
    if parsed is None:
        raise OutboundError(
            "'timestamp' must be unix seconds or ISO-8601 with a UTC offset (e.g. ...Z)"
        )
    if received_at is not None:
        if parsed < received_at - MAX_BACKDATE:
            raise OutboundError(
                f"'timestamp' is more than {MAX_BACKDATE.days} days before the capture was"
                " received"
            )
        if parsed > received_at + MAX_FUTURE_SKEW:
            minutes = int(MAX_FUTURE_SKEW.total_seconds() // 60)
            raise OutboundError(
                f"'timestamp' is more than {minutes} minutes after the capture was received"
            )
    return parsed


def _sender(payload: dict[str, Any], allowed_senders: Collection[str]) -> str:
    sender = payload.get("from")
    if sender is None:
        raise OutboundError("'from' (the sending phone_number_id) is required")
    if not isinstance(sender, str) or not sender.strip():
        raise OutboundError("'from' must be a non-empty string")
    if allowed_senders and sender not in allowed_senders:
        # The value is not echoed: the response must not become a number oracle.
        raise OutboundError("'from' is not one of the firm's sender ids this endpoint archives")
    if len(sender) > _MAX_ID_CHARS:
        raise OutboundError(f"'from' is longer than {_MAX_ID_CHARS} characters")
    return sender


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    content = payload.get("content", {})
    if not isinstance(content, dict):
        raise OutboundError("'content' must be an object")
    size = len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_CONTENT_BYTES:
        raise OutboundError(f"'content' is larger than {MAX_CONTENT_BYTES} bytes")
    return content


def _optional_text(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise OutboundError(f"'{where}.{key}' must be a string")
    limit = _MAX_MEDIA_TEXT_CHARS[key]
    if len(value) > limit:
        raise OutboundError(f"'{where}.{key}' is longer than {limit} characters")
    return value


def _media_ref(item: object, where: str, message_type: str) -> MediaRef:
    if not isinstance(item, dict):
        raise OutboundError(f"'{where}' must be an object")
    media_id = item.get("id")
    if not isinstance(media_id, str) or not media_id.strip():
        raise OutboundError(f"'{where}.id' must be a non-empty string")
    if len(media_id) > MAX_MEDIA_ID_CHARS:
        raise OutboundError(f"'{where}.id' is longer than {MAX_MEDIA_ID_CHARS} characters")
    kind = _optional_text(item, "kind", where)
    if kind is None:
        kind = message_type if message_type in MEDIA_KINDS else "document"
    elif kind not in MEDIA_KINDS:
        raise OutboundError(f"'{where}.kind' must be one of {', '.join(MEDIA_KINDS)}")
    return MediaRef(
        media_id=media_id,
        mime_type=_optional_text(item, "mime_type", where),
        provider_sha256=_optional_text(item, "sha256", where),
        filename=_optional_text(item, "filename", where),
        kind=kind,
    )


def _media(value: object, message_type: str) -> tuple[MediaRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise OutboundError("'media' must be a list")
    if len(value) > MAX_MEDIA:
        raise OutboundError(f"'media' has more than {MAX_MEDIA} items")
    return tuple(
        _media_ref(item, f"media[{position}]", message_type)
        for position, item in enumerate(value)
    )


def parse_outbound(
    payload: object,
    *,
    allowed_senders: Collection[str] = (),
    received_at: datetime | None = None,
) -> CanonicalEvent:
    """Validate an outbound capture; raise :class:`OutboundError` with a clear message.

    ``allowed_senders``: the firm's own sender ids; when non-empty, ``from`` must be one.
    ``received_at``: when the archive received the capture; when given, the timestamp must
    lie within ``[received_at - MAX_BACKDATE, received_at + MAX_FUTURE_SKEW]``. The result
    depends only on the arguments, so re-deriving a record later with the same
    ``received_at`` gives the same event.
    """
    if received_at is not None:
        received_at = require_aware(received_at, "received_at")
    if not isinstance(payload, dict):
        raise OutboundError("body must be a JSON object")
    _check_shape(payload)
    message_id = _required_text(payload, "message_id")
    to = _required_text(payload, "to")
    sender = _sender(payload, allowed_senders)
    message_type = payload.get("type")
    if not isinstance(message_type, str) or not _TYPE_PATTERN.match(message_type):
        raise OutboundError("'type' must be a lowercase message type such as 'text'")
    content = _content(payload)
    return CanonicalEvent(
        provider=PROVIDER,
        event="message",
        direction="outbound",
        message_id=message_id,
        sender=sender,
        recipient=to,
        business_id=sender,
        customer_id=to,
        timestamp=_timestamp(payload.get("timestamp"), received_at),
        type=message_type,
        content={**content, "captured_via": CAPTURED_VIA},
        status=None,
        media=_media(payload.get("media"), message_type),
        fragment=payload,
    )


def is_capture(record: Mapping[str, Any]) -> bool:
    """Did this canonical record come through the capture API rather than a provider?"""
    custody = record.get("custody")
    if isinstance(custody, Mapping) and custody.get("method") == METHOD_OUTBOUND:
        return True
    # Records written before custody existed carry only the content marker.
    content = record.get("content")
    return isinstance(content, Mapping) and content.get("captured_via") == CAPTURED_VIA


def main_record(
    candidates: Sequence[_Row], read: Callable[[_Row], Mapping[str, Any] | None]
) -> tuple[_Row, Mapping[str, Any] | None] | None:
    """Which of a message's records (oldest first) `show` presents as the message.

    A provider-signed record wins over any capture: a capture can reuse an inbound wamid
    with an earlier time, and must not stand in for the signed evidence. ``read`` is
    called lazily, so the usual single candidate costs one read.
    """
    first: tuple[_Row, Mapping[str, Any] | None] | None = None
    for candidate in candidates:
        record = read(candidate)
        if first is None:
            first = (candidate, record)
        if record is not None and not is_capture(record):
            return candidate, record
    return first
