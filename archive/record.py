"""The canonical record: one JSON document per event, written once to the WORM container."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from archive.canonical import canonical_json
from archive.custody import Custody
from archive.events import CanonicalEvent
from archive.identity import event_fingerprint
from archive.timestamps import iso_utc, require_aware

RECORD_SCHEMA = "wa-archive/record@1"
MEDIA_NOT_FETCHED = "not_fetched"


@dataclass(frozen=True)
class RawRef:
    path: str
    sha256: str


@dataclass(frozen=True)
class MediaOutcome:
    media_id: str
    state: Literal["stored", "unavailable"]
    blob_path: str | None
    sha256: str | None
    size: int | None
    mime_type: str | None
    reason: str | None


def _media_entries(event: CanonicalEvent, outcomes: Sequence[MediaOutcome]) -> list[dict[str, Any]]:
    by_id = {outcome.media_id: outcome for outcome in outcomes}
    entries: list[dict[str, Any]] = []
    for ref in event.media:
        outcome = by_id.get(ref.media_id)
        entries.append(
            {
                "media_id": ref.media_id,
                "kind": ref.kind,
                "provider_mime_type": ref.mime_type,
                "provider_sha256": ref.provider_sha256,
                "filename": ref.filename,
                # A ref without an outcome is still listed, so the gap is visible.
                "state": outcome.state if outcome else MEDIA_NOT_FETCHED,
                "mime_type": outcome.mime_type if outcome else None,
                "sha256": outcome.sha256 if outcome else None,
                "size": outcome.size if outcome else None,
                "blob_path": outcome.blob_path if outcome else None,
                "reason": outcome.reason if outcome else None,
            }
        )
    return entries


def build_record(
    event: CanonicalEvent,
    *,
    raw: RawRef,
    received_at: datetime,
    media: Sequence[MediaOutcome] = (),
    custody: Custody | None = None,
) -> dict[str, Any]:
    """The canonical record of DESIGN.md for ``event``.

    ``custody`` (record@1 addition) says how the raw body was authenticated and when;
    the pipeline always passes it. It is outside the fingerprint, which covers only
    provider-derived fields.
    """
    return {
        "schema": RECORD_SCHEMA,
        "event": event.event,
        "direction": event.direction,
        "provider": event.provider,
        "message_id": event.message_id,
        "from": event.sender,
        "to": event.recipient,
        "conversation": {
            "business_id": event.business_id,
            "customer_id": event.customer_id,
            "key": event.conversation_key(),
        },
        "timestamp": iso_utc(event.timestamp),
        "received_at": iso_utc(require_aware(received_at, "received_at")),
        "type": event.type,
        "content": event.content,
        "status": event.status.to_dict() if event.status else None,
        "media": _media_entries(event, media),
        "raw": {"path": raw.path, "sha256": raw.sha256},
        "custody": custody.to_record() if custody else None,
        "fragment": event.fragment,
        "fingerprint": event_fingerprint(event),
    }


def record_bytes(record: dict[str, Any]) -> bytes:
    """Deterministic canonical JSON (sorted keys, UTF-8, no NaN)."""
    return canonical_json(record)


def record_fingerprint(record_json: bytes) -> str | None:
    """The ``fingerprint`` of a stored record, or None if it is unreadable or has none."""
    try:
        data = json.loads(record_json)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("fingerprint")
    return value if isinstance(value, str) else None
