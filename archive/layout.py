"""Blob names: Hive-style date partitions, deterministic from provider ids.

records: ``year=YYYY/month=MM/day=DD/<provider>/<conversation>/<message>/<name>.json`` where
         <name> is ``<epoch seconds>-<event>-<direction>[-<status value>]``, and for a call
         ``<epoch seconds>-call-<direction>-<call event>[-<call status>]``
media:   ``year=YYYY/month=MM/day=DD/<provider>/<conversation>/<message>/<media id><ext>``
raw:     ``year=YYYY/month=MM/day=DD/<sha256 of body>.json`` (receive date)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from archive.encoding import key_segment
from archive.events import CALL_EVENT, CanonicalEvent, MediaRef, call_facts
from archive.timestamps import require_aware

_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
_MIME_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "video/quicktime": ".mov",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/zip": ".zip",
    "application/json": ".json",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "text/vcard": ".vcf",
}
DEFAULT_EXTENSION = ".bin"


def date_prefix(ts: datetime) -> str:
    utc = require_aware(ts, "timestamp").astimezone(UTC)
    return f"year={utc.year:04d}/month={utc.month:02d}/day={utc.day:02d}"


def extension_for_mime(mime_type: str | None) -> str:
    """File extension for a MIME type (parameters like ``; codecs=opus`` ignored)."""
    if not mime_type:
        return DEFAULT_EXTENSION
    base = mime_type.split(";", 1)[0].strip().lower()
    return _MIME_EXTENSIONS.get(base, DEFAULT_EXTENSION)


def raw_blob_name(body_sha256: str, received_at: datetime) -> str:
    if not _SHA256.match(body_sha256):
        raise ValueError("body_sha256 must be 64 lowercase hex characters")
    return f"{date_prefix(received_at)}/{body_sha256}.json"


def _event_folder(event: CanonicalEvent) -> str:
    return "/".join(
        (
            date_prefix(event.timestamp),
            key_segment(event.provider),
            event.conversation_key(),
            key_segment(event.message_id),
        )
    )


def _call_suffix(event: CanonicalEvent) -> str:
    """``-<call event>[-<status>]``: events of one call in one second never share a name.

    Connect and terminate differ by event, RINGING and ACCEPTED by status; a redelivery
    of the same event and status maps to the same name (a duplicate, or a kept conflict).
    """
    call = call_facts(event.content)
    suffix = f"-{key_segment(str(call.get('event') or 'unknown'))}"
    status = call.get("status")
    if isinstance(status, str) and status:
        suffix += f"-{key_segment(status)}"
    return suffix


def record_blob_name(event: CanonicalEvent) -> str:
    epoch = int(event.timestamp.timestamp())
    name = f"{epoch:011d}-{event.event}-{event.direction}"
    if event.event == CALL_EVENT:
        name += _call_suffix(event)
    elif event.status is not None:
        name += f"-{key_segment(event.status.value)}"
    return f"{_event_folder(event)}/{name}.json"


def conflict_blob_name(record_name: str, record_sha256: str) -> str:
    """Sibling of ``record_name`` for a second, different version (both are kept)."""
    if not _SHA256.match(record_sha256):
        raise ValueError("record_sha256 must be 64 lowercase hex characters")
    stem = record_name[: -len(".json")] if record_name.endswith(".json") else record_name
    return f"{stem}.conflict-{record_sha256}.json"


def base_record_name(record_name: str) -> str:
    """The record a conflict sibling (``<stem>.conflict-<sha>.json``) stands beside."""
    base = record_name.split(".conflict-", 1)[0]
    return base if base.endswith(".json") else base + ".json"


def media_blob_name(event: CanonicalEvent, media: MediaRef, mime_type: str | None) -> str:
    return f"{_event_folder(event)}/{key_segment(media.media_id)}{extension_for_mime(mime_type)}"
