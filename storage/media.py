"""Fetch one WhatsApp media item and stream it into the `media` container.

Every call re-resolves the short-lived download URL from the media id (Meta's
URLs expire after minutes), streams the bytes in blocks while hashing and
counting them (never holding the file in memory), refuses anything over the size
cap, checks Meta's sha256 when given, and commits the blob create-only.
Errors raised here carry short reasons with ids and sizes only: they end up in
Durable history and in the failures table.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPResponse
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, ContainerClient, ContentSettings

CHUNK_BYTES = 4 * 1024 * 1024
HTTP_TIMEOUT_SECONDS = 30
# type/subtype with optional parameters ("audio/ogg; codecs=opus"). Anything else
# (CR/LF, quotes, garbage) from the provider is not fit for a blob header.
_MIME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
    r"(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=[A-Za-z0-9!#$&^_.+-]+)*"
)
# Media is evidence, never a page: a browser opening a blob URL downloads it
# instead of rendering provider-supplied HTML or SVG in the storage origin.
CONTENT_DISPOSITION = "attachment"


class MediaFetchError(RuntimeError):
    """This attempt failed; the orchestrator's RetryOptions decide whether to try again."""


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


def _open(url: str, token: str) -> HTTPResponse:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise MediaFetchError(f"refusing media URL with scheme {scheme!r}")
    request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
    # Unredirected: a redirect to another host must not carry the access token along.
    request.add_unredirected_header("Authorization", f"Bearer {token}")
    try:
        response: HTTPResponse = urllib.request.urlopen(  # noqa: S310 - scheme checked above
            request, timeout=HTTP_TIMEOUT_SECONDS
        )
    except urllib.error.HTTPError as exc:
        exc.close()
        raise MediaFetchError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise MediaFetchError(f"unreachable ({type(exc).__name__})") from None
    return response


def resolve(graph_url: str, media_id: str, token: str) -> MediaInfo:
    url = f"{graph_url.rstrip('/')}/{urllib.parse.quote(media_id, safe='')}"
    try:
        with _open(url, token) as response:
            doc: Any = json.loads(response.read(64 * 1024))
    except MediaFetchError as exc:
        raise MediaFetchError(f"media lookup failed: {exc}") from None
    except ValueError:
        raise MediaFetchError("media lookup answered with non-JSON") from None
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


def _block_id(index: int) -> str:
    return base64.b64encode(f"{index:08d}".encode()).decode()


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


def stream_to_blob(
    container: ContainerClient,
    blob_path: str,
    info: MediaInfo,
    token: str,
    *,
    max_bytes: int,
    content_type: str,
) -> StoredMedia:
    if info.file_size is not None and info.file_size > max_bytes:
        raise MediaFetchError(f"media is {info.file_size} bytes, over the {max_bytes} cap")
    blob = container.get_blob_client(blob_path)
    hasher = hashlib.sha256()
    blocks: list[BlobBlock] = []
    single: bytes | None = None
    size = 0
    try:
        with _open(info.url, token) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise MediaFetchError(f"media is {declared} bytes, over the {max_bytes} cap")
            # One chunk of look-ahead: media that fits in a single chunk (most
            # WhatsApp images and voice notes) is stored with one Put Blob instead
            # of Put Block + Put Block List, a write transaction saved per item.
            pending = response.read(CHUNK_BYTES)
            while pending:
                size += len(pending)
                # Counted while streaming: Content-Length may be absent or wrong.
                if size > max_bytes:
                    raise MediaFetchError(f"media exceeds the {max_bytes} byte cap")
                hasher.update(pending)
                following = response.read(CHUNK_BYTES)
                if not following and not blocks:
                    single = pending
                    break
                block_id = _block_id(len(blocks))
                blob.stage_block(block_id, pending)
                blocks.append(BlobBlock(block_id=block_id))
                pending = following
    except MediaFetchError as exc:
        raise MediaFetchError(f"media download failed: {exc}") from None
    except (TimeoutError, OSError) as exc:
        raise MediaFetchError(f"media download interrupted ({type(exc).__name__})") from None
    digest = hasher.digest()
    if info.sha256 and not sha256_matches(info.sha256, digest):
        raise MediaFetchError("sha256 mismatch between provider and downloaded bytes")
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
        existing = existing_media(container, blob_path)
        if existing is not None:
            return existing
        raise MediaFetchError("media blob exists without a recorded sha256") from None
    return StoredMedia(blob_path=blob_path, sha256=digest.hex(), size=size, mime_type=content_type)


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
) -> StoredMedia:
    """Resolve, download and store one media item; raise MediaFetchError for this attempt."""
    info = resolve(graph_url, media_id, token)
    mime = clean_mime(info.mime_type) or clean_mime(fallback_mime)
    blob_path = blob_name_for(mime)
    already = existing_media(container, blob_path)
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
    )
