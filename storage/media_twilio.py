"""Fetch one Twilio media item (``MediaUrlN``) and stream it into the `media` container.

Twilio's ``MediaUrlN`` is a Media resource on the REST API host
(``https://api.twilio.com/2010-04-01/Accounts/AC.../Messages/MM.../Media/ME...``). With
HTTP basic auth on media enforced, a GET with the account SID and auth token answers a
redirect to a short-lived URL on Twilio's media host, which takes no credentials.

So each attempt:

1. takes the URL from the event's fragment (re-derived by the caller from the verified
   raw body), checks that it is a Media resource of this media id, and that its host is
   on the allowlist;
2. GETs it with basic auth, sent to that first URL only;
3. follows at most MAX_REDIRECTS redirects, each target checked against the allowlist,
   never with credentials (they are attached to the first request only, and every hop
   is a new request built from the checked URL);
4. streams the bytes through storage.media.store_chunks: SHA-256 computed on the way
   (Twilio gives no hash), the size cap enforced while streaming, blob committed
   create-only.

Every retry of the orchestration starts again from the MediaUrl: the redirect target
expires, the Media resource does not. Errors carry short reasons (statuses, sizes,
ids), never a URL, a host or a credential: they end up in Durable history and failure rows.
"""

from __future__ import annotations

import base64
import http.client
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import cast

from azure.storage.blob import ContainerClient

from archive.events import CanonicalEvent, MediaRef
from archive.media_hosts import HostAllowlist, HostRefused
from archive.twilio.media import media_path, media_url_for
from storage import settings
from storage.media import (
    DEFAULT_DEADLINE_SECONDS,
    StoredMedia,
    clean_mime,
    committed_media,
    content_length,
    store_response,
)
from storage.media_http import Deadline, MediaFetchError, direct_opener, interrupted

__all__ = ["MAX_REDIRECTS", "MediaFetchError", "fetch_twilio_media"]

# Twilio answers with one redirect; a few more hops are tolerated, a loop is not.
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _basic(account_sid: str, auth_token: str) -> str:
    return "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")


def _get(
    opener: urllib.request.OpenerDirector, url: str, authorization: str | None,
    deadline: Deadline, where: str,
) -> http.client.HTTPResponse:
    # `url` passed HostAllowlist.check (https, or http to a listed loopback host), and the
    # opener has no handler for any other scheme.
    request = urllib.request.Request(url)  # noqa: S310
    if authorization is not None:
        request.add_unredirected_header("Authorization", authorization)
    try:
        response = opener.open(request, timeout=deadline.socket_timeout())
    except urllib.error.HTTPError as exc:  # not raised without an error processor; be safe
        exc.close()
        raise MediaFetchError(f"HTTP {exc.code} from {where}") from None
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSError
        raise interrupted(f"{where} unreachable", exc, deadline) from None
    return cast(http.client.HTTPResponse, response)


def _redirect_target(response: http.client.HTTPResponse, current: str) -> str:
    location = response.headers.get("Location")
    if not location:
        raise MediaFetchError("redirect without a location")
    # As urllib does: headers are decoded as ISO-8859-1; restore and percent-encode.
    target = urllib.parse.quote(location, encoding="iso-8859-1", safe=string.punctuation)
    return urllib.parse.urljoin(current, target)


def _open_media(
    url: str, authorization: str, allowlist: HostAllowlist, deadline: Deadline
) -> http.client.HTTPResponse:
    """The 200 response for the media bytes; the credentials go to ``url`` only."""
    try:
        current = allowlist.check(url).url
    except HostRefused as exc:
        raise MediaFetchError(f"media URL refused: {exc}") from None
    # No redirect or error processing of urllib's own: every response, redirects and
    # errors included, comes back here to decide where to go next and with which headers.
    opener = direct_opener(http_errors=False)
    credentials: str | None = authorization
    where = "the Twilio API"
    for hop in range(MAX_REDIRECTS + 1):
        response = _get(opener, current, credentials, deadline, where)
        if response.status not in _REDIRECTS:
            if response.status != 200:
                response.close()
                raise MediaFetchError(f"HTTP {response.status} from {where}")
            return response
        try:
            target = _redirect_target(response, current)
        finally:
            response.close()
        if hop == MAX_REDIRECTS:
            break
        try:
            current = allowlist.check(target).url
        except HostRefused as exc:
            raise MediaFetchError(f"redirect refused: {exc}") from None
        # The redirect target is the media host: it gets no credentials, ever.
        credentials, where = None, "the media host"
    raise MediaFetchError(f"redirect refused: more than {MAX_REDIRECTS} hops")


def _credentials() -> str:
    """Basic auth for media: the account SID and the first (current) auth token."""
    return _basic(settings.twilio_account_sid(), settings.twilio_auth_tokens()[0])


def fetch_twilio_media(
    container: ContainerClient,
    event: CanonicalEvent,
    ref: MediaRef,
    *,
    blob_name_for: Callable[[str | None], str],
    max_bytes: int,
    allowlist: HostAllowlist,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> StoredMedia:
    """Download and store one media item of a Twilio event; MediaFetchError for this attempt.

    ``event`` must be the full event re-derived from the verified raw body: its fragment
    holds the MediaUrlN. ``deadline_seconds`` bounds the whole attempt.
    """
    url = media_url_for(event.fragment, ref.media_id)
    if url is None:
        raise MediaFetchError(f"media {ref.media_id} has no MediaUrl in its webhook")
    path = media_path(url)
    if path is None or path.media_sid != ref.media_id:
        raise MediaFetchError(f"media {ref.media_id}: MediaUrl is not a Twilio Media resource")
    # Twilio's MediaContentTypeN names the blob before anything is fetched, so a retry
    # after a committed attempt finds the blob and makes no request at all. Twilio
    # declares no size, so both names an item may have are asked (storage.media).
    mime = clean_mime(ref.mime_type)
    if mime is not None:
        already = committed_media(container, blob_name_for(mime), None)
        if already is not None:
            return already
    deadline = Deadline(deadline_seconds)
    response = _open_media(url, _credentials(), allowlist, deadline)
    with response:
        if mime is None:
            mime = clean_mime(response.headers.get("Content-Type"))
            already = committed_media(container, blob_name_for(mime), content_length(
                response.headers.get("Content-Length")))
            if already is not None:
                return already
        return store_response(
            container, blob_name_for(mime), response, deadline,
            max_bytes=max_bytes, content_type=mime or "application/octet-stream",
            expected_sha256=None,
        )
