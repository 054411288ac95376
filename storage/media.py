"""Fetch one WhatsApp media item and stream it into the `media` container.

Every call re-resolves the short-lived download URL from the media id (Meta's
URLs expire after minutes), streams the bytes in blocks while hashing and
counting them (never holding the file in memory), refuses anything over the size
cap, checks Meta's sha256 when given, and commits the blob create-only: under its
unprefixed name, or under `small/` when it has fewer than SMALL_MEDIA_MAX_BYTES bytes
(archive.layout; the size is taken from the bytes, so the same item always gets the
same name, and one blob, whatever retries or redeliveries do).
The lookup and the download go only to hosts on MEDIA_HOST_ALLOWLIST, within one
deadline per attempt (storage.media_http). Errors raised here carry short reasons
with ids and sizes only: they end up in Durable history and in the failures table.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobClient, ContainerClient, ContentSettings

from archive.layout import SMALL_MEDIA_MAX_BYTES, media_names_to_check, sized_media_name
from archive.media_hosts import HostAllowlist
from storage.media_http import (
    Deadline,
    MediaFetchError,
    interrupted,
    open_checked,
    read_chunks,
)

__all__ = [
    "MediaFetchError", "MediaInfo", "StoredMedia", "check_declared_size", "clean_mime",
    "committed_media", "content_length", "existing_media", "fetch_media", "resolve",
    "sha256_matches",
    "store_chunks", "store_response", "stream_to_blob",
]

CHUNK_BYTES = 4 * 1024 * 1024
# Per attempt: 100 MiB (WhatsApp's largest file) needs 0.35 MiB/s to make it, and
# Meta's download URLs expire after about 5 minutes anyway; a retry re-resolves.
DEFAULT_DEADLINE_SECONDS = 300.0
# type/subtype with optional parameters ("audio/ogg; codecs=opus"). Anything else
# (CR/LF, quotes, garbage) from the provider is not fit for a blob header.
_MIME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
    r"(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=[A-Za-z0-9!#$&^_.+-]+)*"
)
# Media is evidence, never a page: a browser opening a blob URL downloads it
# instead of rendering provider-supplied HTML or SVG in the storage origin.
CONTENT_DISPOSITION = "attachment"


@dataclass(frozen=True)
class MediaInfo:
    """Graph API's answer for GET /{media-id}."""

    url: str
    mime_type: str | None
    sha256: str | None
    file_size: int | None


@dataclass(frozen=True)
class StoredMedia:
    blob_path: str
    sha256: str
    size: int
    mime_type: str | None


def resolve(
    graph_url: str, media_id: str, token: str, *, allowlist: HostAllowlist, deadline: Deadline
) -> MediaInfo:
    url = f"{graph_url.rstrip('/')}/{urllib.parse.quote(media_id, safe='')}"
    try:
        with open_checked(url, token=token, allowlist=allowlist, deadline=deadline) as response:
            doc: Any = json.loads(response.read(64 * 1024))
    except MediaFetchError as exc:
        raise MediaFetchError(f"media lookup failed: {exc}") from None
    except ValueError:
        raise MediaFetchError("media lookup answered with non-JSON") from None
    except (OSError, HTTPException) as exc:  # a read after the headers
        raise interrupted("media lookup failed", exc, deadline) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
        raise MediaFetchError("media lookup answered without a url")
    size = doc.get("file_size")
    return MediaInfo(
        url=doc["url"],
        mime_type=doc.get("mime_type") if isinstance(doc.get("mime_type"), str) else None,
        sha256=doc.get("sha256") if isinstance(doc.get("sha256"), str) else None,
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def clean_mime(value: str | None) -> str | None:
    """The provider's mime type if it is a well-formed media type, else None."""
    if value is None:
        return None
    value = value.strip()
    return value if len(value) <= 200 and _MIME.fullmatch(value) else None


def sha256_matches(expected: str, digest: bytes) -> bool:
    """Meta documents a sha256 without saying hex or base64; both spellings occur."""
    expected = expected.strip()
    return expected.lower() == digest.hex() or expected == base64.b64encode(digest).decode()


def _block_ids() -> Iterator[str]:
    """This attempt's block ids: a random prefix, then the block's index.

    Uncommitted blocks belong to the blob name, not to the attempt. Two attempts of
    one media item can stream at once (a retried activity whose first run is still
    alive); with shared ids one attempt's Put Block would replace the other's and
    the commit would mix them. The ids keep one length, as Azure requires per blob.
    """
    prefix = secrets.token_hex(8)
    index = 0
    while True:
        yield base64.b64encode(f"{prefix}-{index:08d}".encode()).decode()
        index += 1


def existing_media(container: ContainerClient, blob_path: str) -> StoredMedia | None:
    """A blob a previous attempt already committed (its sha256 is in its metadata)."""
    try:
        props = container.get_blob_client(blob_path).get_blob_properties()
    except ResourceNotFoundError:
        return None
    digest = props.metadata.get("sha256")
    if not digest:
        return None
    return StoredMedia(
        blob_path=blob_path,
        sha256=digest,
        size=int(props.size),
        mime_type=props.content_settings.content_type,
    )


def committed_media(
    container: ContainerClient, blob_path: str, declared_size: int | None
) -> StoredMedia | None:
    """The blob an earlier attempt committed for this item, under either of its names.

    `blob_path` is the item's unprefixed name. With a size the provider declared, only
    the name for that size is asked (one HEAD, as before small media had a prefix);
    without one, the unprefixed name and then the `small/` one. A declaration that turns
    out wrong costs a download again, never a second blob: the commit is create-only
    under the name the bytes' own size gives.
    """
    for name in media_names_to_check(blob_path, declared_size):
        found = existing_media(container, name)
        if found is not None:
            return found
    return None


def stream_to_blob(
    container: ContainerClient,
    blob_path: str,
    info: MediaInfo,
    token: str,
    *,
    max_bytes: int,
    content_type: str,
    allowlist: HostAllowlist,
    deadline: Deadline,
) -> StoredMedia:
    check_declared_size(info.file_size, max_bytes)
    try:
        response = open_checked(info.url, token=token, allowlist=allowlist, deadline=deadline)
    except MediaFetchError as exc:
        raise MediaFetchError(f"media download failed: {exc}") from None
    with response:
        return store_response(
            container, blob_path, response, deadline,
            max_bytes=max_bytes, content_type=content_type, expected_sha256=info.sha256,
        )


def content_length(declared: str | None) -> int | None:
    """A Content-Length header's value if it is all digits, else None (absent or garbled)."""
    # isdigit() alone accepts "²" (a latin-1-decoded header can hold it), which int() refuses.
    return int(declared) if declared and declared.isascii() and declared.isdigit() else None


def check_declared_size(
    size: int | None, max_bytes: int, *, prefix: str = "", as_declared: str | None = None
) -> None:
    """Fail the attempt before any byte is read when a declared size is over the cap.

    The reason is `prefix` + "media is N bytes, over the M cap", N quoted as declared
    (`as_declared`, a header's text) when given, else `size`.
    """
    if size is not None and size > max_bytes:
        raise MediaFetchError(
            f"{prefix}media is {as_declared or size} bytes, over the {max_bytes} cap"
        )


def store_response(
    container: ContainerClient,
    blob_path: str,
    response: HTTPResponse,
    deadline: Deadline,
    *,
    max_bytes: int,
    content_type: str,
    expected_sha256: str | None,
) -> StoredMedia:
    """Store an open download: its Content-Length checked against the cap, then the body
    streamed through `store_chunks`, read failures reported as download reasons."""
    declared = response.headers.get("Content-Length")
    length = content_length(declared)
    check_declared_size(length, max_bytes, prefix="media download failed: ", as_declared=declared)
    return store_chunks(
        container, blob_path, _downloaded(response, deadline, length),
        max_bytes=max_bytes, content_type=content_type, expected_sha256=expected_sha256,
    )


def _downloaded(
    response: HTTPResponse, deadline: Deadline, length: int | None
) -> Iterator[bytes]:
    """The body's chunks; a failure while reading becomes a download reason."""
    try:
        yield from read_chunks(response, deadline, CHUNK_BYTES, length)
    except MediaFetchError as exc:
        raise MediaFetchError(f"media download failed: {exc}") from None
    except (OSError, HTTPException) as exc:  # timeouts included
        raise interrupted("media download interrupted", exc, deadline) from None


def _at_least(chunks: Iterator[bytes], min_bytes: int) -> Iterator[bytes]:
    """`chunks` joined so that every one but the last holds at least `min_bytes`."""
    buffered: list[bytes] = []
    filled = 0
    for chunk in chunks:
        if not chunk:
            continue
        buffered.append(chunk)
        filled += len(chunk)
        if filled >= min_bytes:
            yield buffered[0] if len(buffered) == 1 else b"".join(buffered)
            buffered, filled = [], 0
    if buffered:
        yield b"".join(buffered)


def store_chunks(
    container: ContainerClient,
    blob_path: str,
    chunks: Iterator[bytes],
    *,
    max_bytes: int,
    content_type: str,
    expected_sha256: str | None,
) -> StoredMedia:
    """Hash, count and stage `chunks` (one block each), then commit create-only.

    `blob_path` is the item's unprefixed name; the blob's name is chosen from the
    counted size (archive.layout.sized_media_name). Chunks are joined to at least
    SMALL_MEDIA_MAX_BYTES, so a small item is always a single chunk: its name is chosen
    once all of it is counted, and blocks are staged only for an item already past the
    threshold (blocks belong to the name they were staged under).
    """
    blob: BlobClient | None = None
    hasher = hashlib.sha256()
    blocks: list[BlobBlock] = []
    block_ids = _block_ids()
    single: bytes | None = None
    size = 0
    chunks = _at_least(chunks, SMALL_MEDIA_MAX_BYTES)
    # One chunk of look-ahead: media that fits in a single chunk (most WhatsApp
    # images and voice notes) is stored with one Put Blob instead of Put Block +
    # Put Block List, a write transaction saved per item.
    pending = next(chunks, b"")
    while pending:
        size += len(pending)
        # Counted while streaming: Content-Length may be absent or wrong.
        if size > max_bytes:
            raise MediaFetchError(f"media exceeds the {max_bytes} byte cap")
        hasher.update(pending)
        following = next(chunks, b"")
        if not following and not blocks:
            single = pending
            break
        if blob is None:  # at least SMALL_MEDIA_MAX_BYTES so far: the unprefixed name
            blob = container.get_blob_client(sized_media_name(blob_path, size))
        block_id = next(block_ids)
        blob.stage_block(block_id, pending)
        blocks.append(BlobBlock(block_id=block_id))
        pending = following
    digest = hasher.digest()
    if expected_sha256 and not sha256_matches(expected_sha256, digest):
        raise MediaFetchError("sha256 mismatch between provider and downloaded bytes")
    if blob is None:
        blob = container.get_blob_client(sized_media_name(blob_path, size))
    return _commit(blob, container, blocks, single, digest, size, content_type)


def _commit(
    blob: BlobClient,
    container: ContainerClient,
    blocks: list[BlobBlock],
    single: bytes | None,
    digest: bytes,
    size: int,
    content_type: str,
) -> StoredMedia:
    settings = ContentSettings(
        content_type=content_type, content_disposition=CONTENT_DISPOSITION
    )
    metadata = {"sha256": digest.hex()}
    try:
        if single is not None or not blocks:
            blob.upload_blob(
                single or b"", overwrite=False, content_settings=settings, metadata=metadata
            )  # overwrite=False sends If-None-Match: *
        else:
            blob.commit_block_list(
                blocks,
                content_settings=settings,
                metadata=metadata,
                match_condition=MatchConditions.IfMissing,  # If-None-Match: *
            )
    except ResourceExistsError:
        # A parallel or earlier attempt won; its bytes are the same media id's bytes.
        existing = existing_media(container, blob.blob_name)
        if existing is not None:
            return existing
        raise MediaFetchError("media blob exists without a recorded sha256") from None
    return StoredMedia(
        blob_path=blob.blob_name, sha256=digest.hex(), size=size, mime_type=content_type
    )


def fetch_media(
    container: ContainerClient,
    *,
    graph_url: str,
    token: str,
    media_id: str,
    provider_sha256: str | None,
    blob_name_for: Callable[[str | None], str],
    fallback_mime: str | None,
    max_bytes: int,
    allowlist: HostAllowlist,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> StoredMedia:
    """Resolve, download and store one media item; raise MediaFetchError for this attempt.

    The token goes to the Graph host and the download host only, and only if
    `allowlist` admits them; `deadline_seconds` bounds the whole attempt.
    """
    deadline = Deadline(deadline_seconds)
    info = resolve(graph_url, media_id, token, allowlist=allowlist, deadline=deadline)
    mime = clean_mime(info.mime_type) or clean_mime(fallback_mime)
    blob_path = blob_name_for(mime)  # unprefixed; the stored name follows the size
    already = committed_media(container, blob_path, info.file_size)
    if already is not None:
        return already
    if provider_sha256 and not info.sha256:
        info = MediaInfo(info.url, info.mime_type, provider_sha256, info.file_size)
    return stream_to_blob(
        container,
        blob_path,
        info,
        token,
        max_bytes=max_bytes,
        content_type=mime or "application/octet-stream",
        allowlist=allowlist,
        deadline=deadline,
    )
