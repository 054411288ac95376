"""Blob names: Hive-style date partitions, deterministic from provider ids.

records: ``year=YYYY/month=MM/day=DD/<provider>/<conversation>/<message>/<name>.json`` where
         <name> is ``<epoch seconds>-<event>-<direction>[-<status value>]``, and for a call
         ``<epoch seconds>-call-<direction>-<call event>[-<call status>]``
media:   ``year=YYYY/month=MM/day=DD/<provider>/<conversation>/<message>/<media id><ext>``, and
         ``small/year=YYYY/...`` (the same name under SMALL_MEDIA_PREFIX) for an item of fewer
         than SMALL_MEDIA_MAX_BYTES bytes: the lifecycle rule tiers ``media/year=`` only
raw:     ``year=YYYY/month=MM/day=DD/<sha256 of body>.json`` (receive date)

A media item's name depends on its size, which only its bytes tell for certain: the
fetchers (storage.media) ask for the unprefixed name (``media_blob_name`` without a
size), look for a committed blob under ``media_names_to_check`` before downloading, and
commit create-only under ``sized_media_name`` once the bytes are counted. The same bytes
always give the same name, so retries and redeliveries end with one blob per item.
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

# Media smaller than this many bytes (stickers, short voice notes) are stored under
# SMALL_MEDIA_PREFIX, which the lifecycle rule does not tier. Why: a tier change costs
# one write operation per blob whatever its size, so moving a blob this small to a
# cheaper tier costs more than the capacity it saves over the retention period
# (break-even ~24 KiB for one Hot->Cold move at 90 days, kept 7 years; the formula is
# in docs/cost.md). Lifecycle rules cannot filter by size and prefixMatch only
# includes, hence a prefix of its own. Changing the value renames items whose size lies
# between the old and the new value: let in-flight media fetches finish first.
SMALL_MEDIA_MAX_BYTES = 24 * 1024
SMALL_MEDIA_PREFIX = "small/"


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


def is_small_media(size: int) -> bool:
    """Is a media item of `size` bytes stored under SMALL_MEDIA_PREFIX?"""
    return size < SMALL_MEDIA_MAX_BYTES


def sized_media_name(name: str, size: int) -> str:
    """The name a media item of `size` bytes is stored under, from its unprefixed `name`."""
    return SMALL_MEDIA_PREFIX + name if is_small_media(size) else name


def media_names_to_check(name: str, declared_size: int | None) -> tuple[str, ...]:
    """Where an earlier attempt may have committed this item: the name for the size the
    provider declared, else both (the unprefixed one first)."""
    if declared_size is not None and declared_size >= 0:
        return (sized_media_name(name, declared_size),)
    return (name, SMALL_MEDIA_PREFIX + name)


def partition_name(name: str) -> str:
    """A blob name from its `year=` partition on: a small media blob's without its prefix."""
    return name.removeprefix(SMALL_MEDIA_PREFIX)


def media_blob_name(
    event: CanonicalEvent, media: MediaRef, mime_type: str | None, size: int | None = None
) -> str:
    """A media item's blob name. Without `size`: the unprefixed name (the item's name
    unless it turns out to be small), which the fetchers resolve once they count the bytes."""
    name = f"{_event_folder(event)}/{key_segment(media.media_id)}{extension_for_mime(mime_type)}"
    return name if size is None else sized_media_name(name, size)
