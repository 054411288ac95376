"""Fetch one WASender media item: decrypt it through the WASender API, then stream it.

WhatsApp media is encrypted; WASender's ``POST {WASENDER_API_URL}/decrypt-media``
(Bearer WASENDER_API_KEY) takes the webhook's media message and answers a ``publicUrl``
that serves the plaintext for one hour. Every attempt calls decrypt again, so a retry
(the orchestrator's RetryOptions) never reuses an expired URL. The request body is
rebuilt from the event's verbatim fragment (archive.wasender.media), so a media
reference can only fetch its own message's file.

As for Meta (storage.media): both URLs pass MEDIA_HOST_ALLOWLIST first (plain http only
to a loopback host listed exactly), the API key goes to the API origin only (the
decrypt call follows no redirect, and the publicUrl is fetched without it), one deadline
bounds the attempt, the bytes stream in blocks while hashed and counted against
MAX_MEDIA_BYTES, WhatsApp's ``fileSha256`` (base64 of the plaintext SHA-256) is checked,
and the blob is committed create-only under a name fixed by the event alone. Reasons
raised are short, with sizes and HTTP codes only: they reach Durable history and the
failures table.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException, HTTPResponse
from typing import Any, cast

from azure.storage.blob import ContainerClient

from archive.canonical import canonical_json
from archive.events import CanonicalEvent, MediaRef
from archive.media_hosts import HostAllowlist, HostRefused
from archive.wasender.media import NotThisEvent, decrypt_request, decrypt_url, public_url_of
from storage import settings
from storage.media import (
    DEFAULT_DEADLINE_SECONDS,
    StoredMedia,
    check_declared_size,
    clean_mime,
    committed_media,
    store_response,
)
from storage.media_http import (
    Deadline,
    MediaFetchError,
    direct_opener,
    interrupted,
    open_checked,
)

__all__ = ["fetch_wasender_media"]

# decrypt-media answers a small JSON document; anything longer is not that.
MAX_ANSWER_BYTES = 64 * 1024


def fetch_wasender_media(
    container: ContainerClient,
    event: CanonicalEvent,
    ref: MediaRef,
    *,
    blob_name_for: Callable[[str | None], str],
    max_bytes: int,
    allowlist: HostAllowlist,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> StoredMedia:
    """Decrypt, download and store one media item; raise MediaFetchError for this attempt."""
    try:
        request = decrypt_request(event, ref)
    except NotThisEvent as exc:
        raise MediaFetchError(f"media {ref.kind}: {exc}") from None
    check_declared_size(request.declared_size, max_bytes)
    # The message's own mime type names the blob (and its fileLength the size class:
    # small media sit under `small/`), so a retry finds a committed one before asking
    # WASender again.
    mime = clean_mime(ref.mime_type)
    blob_path = blob_name_for(mime)
    already = committed_media(container, blob_path, request.declared_size)
    if already is not None:
        return already
    deadline = Deadline(deadline_seconds)
    public_url = _decrypt(
        decrypt_url(settings.wasender_api_url()), settings.wasender_api_key(), request.body,
        allowlist=allowlist, deadline=deadline,
    )
    try:
        response = open_checked(public_url, token=None, allowlist=allowlist, deadline=deadline)
    except MediaFetchError as exc:
        raise MediaFetchError(f"media download failed: {exc}") from None
    with response:
        return store_response(
            container, blob_path, response, deadline,
            max_bytes=max_bytes, content_type=mime or "application/octet-stream",
            expected_sha256=ref.provider_sha256,
        )


def _decrypt(url: str, api_key: str, body: dict[str, Any], *, allowlist: HostAllowlist,
             deadline: Deadline) -> str:
    """POST decrypt-media; the publicUrl it answers (not yet checked against the allowlist)."""
    try:
        allowed = allowlist.check(url)
    except HostRefused as exc:
        raise MediaFetchError(f"decrypt-media refused: {exc}") from None
    # The allowlist admitted only https (or listed loopback http); S310 guards the rest.
    request = urllib.request.Request(  # noqa: S310
        allowed.url, data=canonical_json(body), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    request.add_unredirected_header("Authorization", f"Bearer {api_key}")
    try:
        # No redirect handler: a redirect answer is an error, so the key never follows one.
        with direct_opener().open(request, timeout=deadline.socket_timeout()) as response:
            answer: Any = json.loads(cast(HTTPResponse, response).read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        exc.close()
        raise MediaFetchError(f"decrypt-media failed: HTTP {exc.code}") from None
    except ValueError:
        raise MediaFetchError("decrypt-media answered with non-JSON") from None
    except (OSError, HTTPException) as exc:  # URLError and timeouts are OSError
        raise interrupted("decrypt-media failed", exc, deadline) from None
    public_url = public_url_of(answer)
    if public_url is None:
        raise MediaFetchError("decrypt-media answered without a publicUrl")
    return public_url
