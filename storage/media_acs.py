"""Fetch one ACS Advanced Messaging media item and stream it into the `media` container.

ACS media are downloaded by id from the ACS resource itself:
``GET {endpoint}/messages/streams/{mediaId}?api-version=...`` through the
azure-communication-messages SDK (``NotificationMessagesClient.download_media``, an
iterator of bytes). There is no short-lived URL to resolve: every attempt (retries are
the orchestration's ``RetryOptions``) asks the endpoint again by media id.

``ACS_ENDPOINT`` says where and how, as ``ARCHIVE_STORAGE`` does for the archive account:

- an https URL (``https://<resource>.communication.azure.com``): the app's managed
  identity (``storage.clients.credential``; Entra ID, no keys), as in Azure;
- an ACS connection string (``endpoint=<url>;accesskey=<base64 key>``): HMAC-SHA256 key
  authentication, for local runs and the tests' stand-in (which is plain http on
  loopback, where the SDK refuses to send a bearer token).

The endpoint's host must be on MEDIA_HOST_ALLOWLIST (https only; plain http only to a
listed loopback host). Redirects are not followed and the SDK does not retry on its own.
The bytes are streamed in blocks, hashed and counted (``storage.media.store_chunks``):
reading stops as soon as the cap is passed, and the blob is committed create-only.
ACS sends no sha256 of its own, so there is nothing to compare ours with. Errors carry
short reasons (status codes and exception class names), never the endpoint, key or token.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from azure.communication.messages import NotificationMessagesClient
from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import ContainerClient

from archive.events import CanonicalEvent, MediaRef
from archive.media_hosts import HostAllowlist, HostRefused
from archive.names import SETTING_ACS_ENDPOINT
from storage import settings
from storage.clients import credential as app_credential
from storage.clients import quiet_sdk_logging
from storage.media import (
    CHUNK_BYTES,
    StoredMedia,
    check_declared_size,
    clean_mime,
    committed_media,
    content_length,
    store_chunks,
)
from storage.media_http import HTTP_TIMEOUT_SECONDS, Deadline, MediaFetchError

log = logging.getLogger("wa_archive.orchestrations")

DEFAULT_DEADLINE_SECONDS = 300.0
CONNECT_TIMEOUT_SECONDS = 10
# The SDK's socket reads; the transport hands them on in blocks of this size.
READ_BLOCK_BYTES = 256 * 1024
STREAM_PATH = "/messages/streams/"


@dataclass(frozen=True)
class AcsEndpoint:
    """Where ACS media are downloaded from, and with which credential."""

    url: str  # scheme://host[:port], no trailing slash
    access_key: str | None  # set only for connection-string (HMAC key) authentication

    def __repr__(self) -> str:  # never show the key, in a traceback or a log
        return f"AcsEndpoint(url={self.url!r}, key={'set' if self.access_key else 'none'})"


def parse_endpoint(value: str) -> AcsEndpoint:
    """An ``ACS_ENDPOINT`` value: a URL, or ``endpoint=...;accesskey=...`` (SettingError)."""
    value = value.strip()
    if "=" not in value.split("//", 1)[0]:
        return AcsEndpoint(url=value.rstrip("/"), access_key=None)
    fields: dict[str, str] = {}
    for element in value.split(";"):
        key, _, item = element.partition("=")
        if key.strip():
            fields[key.strip().lower()] = item.strip()
    url, key = fields.get("endpoint", ""), fields.get("accesskey", "")
    if not url or not key:
        raise settings.SettingError(
            f"app setting {SETTING_ACS_ENDPOINT} is a connection string without "
            "endpoint and accesskey"
        )
    return AcsEndpoint(url=url.rstrip("/"), access_key=key)


def acs_endpoint() -> AcsEndpoint:
    """ACS_ENDPOINT: its URL checked by storage.settings, plus the access key if it has one."""
    url = settings.acs_endpoint()
    return AcsEndpoint(url=url, access_key=parse_endpoint(
        settings.required(SETTING_ACS_ENDPOINT)).access_key)


def stream_url(endpoint: AcsEndpoint, media_id: str) -> str:
    return f"{endpoint.url}{STREAM_PATH}{urllib.parse.quote(media_id, safe='')}"


def _client(endpoint: AcsEndpoint, https: bool) -> NotificationMessagesClient:
    quiet_sdk_logging()
    cred: TokenCredential | AzureKeyCredential = (
        AzureKeyCredential(endpoint.access_key) if endpoint.access_key
        else app_credential(None)  # AZURE_CLIENT_ID names the app's user-assigned identity
    )
    transport = RequestsTransport(
        connection_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=HTTP_TIMEOUT_SECONDS,
        connection_data_block_size=READ_BLOCK_BYTES,
        # An https egress proxy from the environment applies; plain http (loopback only)
        # never goes through one, where the signed request would cross in clear.
        use_env_settings=https,
    )
    return NotificationMessagesClient(
        endpoint.url, cred, transport=transport, retry_total=0, permit_redirects=False
    )


@dataclass
class _Opened:
    length: int | None
    content_type: str | None
    chunks: Iterator[bytes]


def _open(client: NotificationMessagesClient, media_id: str) -> _Opened:
    def keep(pipeline_response: Any, deserialized: Iterator[bytes], _: Any) -> _Opened:
        headers = pipeline_response.http_response.headers
        return _Opened(
            length=content_length(headers.get("Content-Length")),
            content_type=headers.get("Content-Type"),
            chunks=deserialized,
        )

    try:
        # With ``cls`` the SDK returns what ``keep`` builds (typed as its iterator).
        opened = cast(_Opened, client.download_media(media_id, cls=keep))
    except HttpResponseError as exc:
        status = exc.status_code
        raise MediaFetchError(
            f"media download failed: HTTP {status}" if status
            else f"media download failed ({type(exc).__name__})"
        ) from None
    except AzureError as exc:  # connection, timeout, credential
        reason = f"media download failed: unreachable ({type(exc).__name__})"
        raise MediaFetchError(reason) from None
    return opened


def _capped(opened: _Opened, max_bytes: int, deadline: Deadline) -> Iterator[bytes]:
    """The body in blocks of CHUNK_BYTES; stops reading once past the cap or the deadline."""
    buffer = bytearray()
    total = 0
    try:
        for piece in opened.chunks:
            deadline.check()
            total += len(piece)
            if total > max_bytes:
                raise MediaFetchError(f"media exceeds the {max_bytes} byte cap")
            buffer += piece
            while len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer[:CHUNK_BYTES])
                del buffer[:CHUNK_BYTES]
    except AzureError as exc:  # the connection broke or timed out mid-body
        if deadline.passed():
            raise MediaFetchError(
                f"media download interrupted: attempt deadline of {deadline.seconds:g} s passed"
            ) from None
        raise MediaFetchError(f"media download interrupted ({type(exc).__name__})") from None
    if opened.length is not None and total != opened.length:
        raise MediaFetchError("download ended before its Content-Length")
    if buffer:
        yield bytes(buffer)


def fetch_acs_media(
    container: ContainerClient,
    event: CanonicalEvent,
    ref: MediaRef,
    *,
    blob_name_for: Callable[[str | None], str],
    max_bytes: int,
    allowlist: HostAllowlist,
    endpoint: AcsEndpoint | None = None,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> StoredMedia:
    """Download and store one media item of an ACS event; MediaFetchError fails this attempt.

    ``endpoint`` defaults to ``ACS_ENDPOINT``. The blob's Content-Type (and so its
    extension) is the mime type the event announced, else the one the download answers.
    """
    if ref not in event.media:
        raise MediaFetchError("media item is not one of the event's")
    endpoint = endpoint or acs_endpoint()
    try:
        allowed = allowlist.check(stream_url(endpoint, ref.media_id))
    except HostRefused as exc:
        raise MediaFetchError(f"media download refused: {exc}") from None
    deadline = Deadline(deadline_seconds)
    mime = clean_mime(ref.mime_type)
    if mime is not None:  # ACS declares no size: both names an item may have are asked
        already = committed_media(container, blob_name_for(mime), None)
        if already is not None:
            return already
    with _client(endpoint, allowed.origin.scheme == "https") as client:
        opened = _open(client, ref.media_id)
        check_declared_size(opened.length, max_bytes, prefix="media download failed: ")
        if mime is None:
            mime = clean_mime(opened.content_type)
            already = committed_media(container, blob_name_for(mime), opened.length)
            if already is not None:
                return already
        stored = store_chunks(
            container, blob_name_for(mime), _capped(opened, max_bytes, deadline),
            max_bytes=max_bytes, content_type=mime or "application/octet-stream",
            expected_sha256=None,
        )
    log.info("acs media stored size=%d sha256=%s", stored.size, stored.sha256)
    return stored
