"""Outbound capture: validate the body of ``POST /api/outbound`` into a canonical event.

Firm systems that send through the Cloud API post what they sent::

    {"message_id": "wamid...", "to": "<customer>", "from": "<phone_number_id>",
     "timestamp": "2024-05-01T12:00:00Z" | "1714564800", "type": "text",
     "content": {"text": "..."}, "media": [{"id": "...", "mime_type": "...", "sha256": "..."}]}
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from archive.events import MEDIA_KINDS, CanonicalEvent, MediaRef
from archive.timestamps import from_iso, from_unix_seconds

PROVIDER = "meta"
_TYPE_PATTERN = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
_MAX_ID_CHARS = 1024


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


def _timestamp(value: object) -> datetime:
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
    return parsed


def _optional_text(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise OutboundError(f"'{where}.{key}' must be a string")
    return value


def _media(value: object, message_type: str) -> tuple[MediaRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise OutboundError("'media' must be a list")
    refs: list[MediaRef] = []
    for position, item in enumerate(value):
        where = f"media[{position}]"
        if not isinstance(item, dict):
            raise OutboundError(f"'{where}' must be an object")
        media_id = item.get("id")
        if not isinstance(media_id, str) or not media_id.strip():
            raise OutboundError(f"'{where}.id' must be a non-empty string")
        kind = _optional_text(item, "kind", where)
        if kind is None:
            kind = message_type if message_type in MEDIA_KINDS else "document"
        elif kind not in MEDIA_KINDS:
            raise OutboundError(f"'{where}.kind' must be one of {', '.join(MEDIA_KINDS)}")
        refs.append(
            MediaRef(
                media_id=media_id,
                mime_type=_optional_text(item, "mime_type", where),
                provider_sha256=_optional_text(item, "sha256", where),
                filename=_optional_text(item, "filename", where),
                kind=kind,
            )
        )
    return tuple(refs)


def parse_outbound(payload: object, *, business_id: str | None = None) -> CanonicalEvent:
    """Validate an outbound capture; raise :class:`OutboundError` with a clear message."""
    if not isinstance(payload, dict):
        raise OutboundError("body must be a JSON object")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutboundError("body must be plain JSON (no NaN or Infinity)") from exc
    message_id = _required_text(payload, "message_id")
    to = _required_text(payload, "to")
    sender = payload.get("from")
    if sender is None:
        if business_id is None:
            raise OutboundError("'from' (the sending phone_number_id) is required")
        sender = business_id
    elif not isinstance(sender, str) or not sender.strip():
        raise OutboundError("'from' must be a non-empty string")
    elif business_id is not None and sender != business_id:
        raise OutboundError("'from' does not match the business this endpoint archives for")
    message_type = payload.get("type")
    if not isinstance(message_type, str) or not _TYPE_PATTERN.match(message_type):
        raise OutboundError("'type' must be a lowercase message type such as 'text'")
    content = payload.get("content", {})
    if not isinstance(content, dict):
        raise OutboundError("'content' must be an object")
    return CanonicalEvent(
        provider=PROVIDER,
        event="message",
        direction="outbound",
        message_id=message_id,
        sender=sender,
        recipient=to,
        business_id=sender,
        customer_id=to,
        timestamp=_timestamp(payload.get("timestamp")),
        type=message_type,
        content={**content, "captured_via": "outbound_api"},
        status=None,
        media=_media(payload.get("media"), message_type),
        fragment=payload,
    )
