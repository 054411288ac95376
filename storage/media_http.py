"""HTTP for the media fetch: allowlisted origins only, same-origin redirects, one deadline.

urllib with only the handlers a fetch needs (no file:, ftp: or data: handler at
all), and a redirect handler of our own: a redirect is followed only within the
same scheme, host and port, at most MAX_REDIRECTS hops, and only there does the
bearer token go along. Every URL, the first and each redirect target, passes
`HostAllowlist.check` before anything is sent to it.

One `Deadline` covers a whole attempt (lookup, download, staging). It bounds each
socket operation too, and is checked between reads, so a server that trickles
bytes fails the attempt instead of holding it open; the attempt can overrun it by
at most one socket timeout (HTTP_TIMEOUT_SECONDS) while a read is blocked.
Reasons raised here are short and name no URL, host, path or token: they end up
in Durable history and in failure rows.
"""

from __future__ import annotations

import http.client
import string
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import IO, Any, cast

from archive.media_hosts import Allowed, HostAllowlist, HostRefused, Origin

HTTP_TIMEOUT_SECONDS = 30
MAX_REDIRECTS = 3


class MediaFetchError(RuntimeError):
    """This attempt failed; the orchestrator's RetryOptions decide whether to try again."""


class Deadline:
    """An attempt's overall time budget, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self._ends

    def check(self) -> None:
        if self.passed():
            raise MediaFetchError(f"attempt deadline of {self.seconds:g} s passed")

    def socket_timeout(self) -> float:
        self.check()
        return max(0.01, min(float(HTTP_TIMEOUT_SECONDS), self._ends - time.monotonic()))


class _Request(urllib.request.Request):
    """A request to a checked URL, remembering its origin, hop count and token."""

    def __init__(self, allowed: Allowed, token: str | None, hops: int = 0) -> None:
        super().__init__(allowed.url)
        self.origin: Origin = allowed.origin
        self.token = token
        self.hops = hops
        if token is not None:
            # Unredirected: urllib's own redirect code never copies it; ours re-adds
            # it for a same-origin hop only.
            self.add_unredirected_header("Authorization", f"Bearer {token}")


class _SameOriginRedirects(urllib.request.BaseHandler):
    def __init__(self, allowlist: HostAllowlist, deadline: Deadline) -> None:
        self.allowlist = allowlist
        self.deadline = deadline

    def http_error_302(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message
    ) -> Any:
        fp.close()
        location = headers.get("Location")
        if not isinstance(req, _Request) or not location:
            raise MediaFetchError("redirect without a usable location")
        if req.hops >= MAX_REDIRECTS:
            raise MediaFetchError(f"redirect refused: more than {MAX_REDIRECTS} hops")
        # As urllib does: headers are decoded as ISO-8859-1; restore and percent-encode.
        target = urllib.parse.quote(location, encoding="iso-8859-1", safe=string.punctuation)
        try:
            allowed = self.allowlist.check(urllib.parse.urljoin(req.full_url, target))
        except HostRefused as exc:
            raise MediaFetchError(f"redirect refused: {exc}") from None
        if allowed.origin != req.origin:
            raise MediaFetchError("redirect refused: another host, port or scheme")
        hop = _Request(allowed, req.token, req.hops + 1)
        return self.parent.open(hop, timeout=self.deadline.socket_timeout())

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def direct_opener(
    *extra_handlers: urllib.request.BaseHandler, http_errors: bool = True
) -> urllib.request.OpenerDirector:
    """urllib with http and https only (no file:, ftp: or data: handler), plus `extra_handlers`.

    An egress proxy from the environment still applies to https (a CONNECT tunnel:
    credentials stay inside TLS). Plain http, only ever to loopback, never goes through
    a proxy, where a token or key would cross in clear. With `http_errors`, a non-2xx
    answer raises HTTPError; without, every response comes back to the caller as is.
    No redirect handler unless one is passed: a redirect is otherwise an error (or,
    without `http_errors`, an answer), so credentials never follow one.
    """
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(
            {k: v for k, v in urllib.request.getproxies().items() if k == "https"}
        ),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
    ]
    if http_errors:
        handlers += [urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()]
    opener = urllib.request.OpenerDirector()
    for handler in (*handlers, *extra_handlers):
        opener.add_handler(handler)
    return opener


def interrupted(what: str, exc: BaseException, deadline: Deadline) -> MediaFetchError:
    """`what` failed on the network: say so, or that the attempt's deadline passed."""
    if deadline.passed():
        return MediaFetchError(f"{what}: attempt deadline of {deadline.seconds:g} s passed")
    return MediaFetchError(f"{what} ({type(exc).__name__})")


def open_checked(
    url: str, *, token: str | None, allowlist: HostAllowlist, deadline: Deadline
) -> http.client.HTTPResponse:
    """GET `url` if the allowlist admits it; the token goes nowhere else."""
    try:
        allowed = allowlist.check(url)
    except HostRefused as exc:
        raise MediaFetchError(str(exc)) from None
    try:
        response = direct_opener(_SameOriginRedirects(allowlist, deadline)).open(
            _Request(allowed, token), timeout=deadline.socket_timeout()
        )
    except urllib.error.HTTPError as exc:
        exc.close()
        raise MediaFetchError(f"HTTP {exc.code}") from None
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSError
        raise interrupted("unreachable", exc, deadline) from None
    return cast(http.client.HTTPResponse, response)


def read_chunks(
    response: http.client.HTTPResponse,
    deadline: Deadline,
    chunk_bytes: int,
    expected_length: int | None,
) -> Iterator[bytes]:
    """The body in chunks of `chunk_bytes` (the last may be shorter), deadline checked per read.

    read1 returns what one socket read brings, so a trickling server is noticed
    between reads; read(n) would block until n bytes or the end.
    """
    total = 0
    while True:
        parts: list[bytes] = []
        filled = 0
        while filled < chunk_bytes:
            deadline.check()
            piece = response.read1(chunk_bytes - filled)
            if not piece:
                break
            parts.append(piece)
            filled += len(piece)
        total += filled
        if parts:
            yield parts[0] if len(parts) == 1 else b"".join(parts)
        if filled < chunk_bytes:
            break
    # http.client reports a connection closed early as a short body, not an error.
    if expected_length is not None and total != expected_length:
        raise MediaFetchError("download ended before its Content-Length")
