"""Twilio ``X-Twilio-Signature`` over a webhook's URL and form parameters (pure, stdlib only).

Twilio signs base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
in sorted name order)); the URL is exactly the one Twilio called, query string
included. Twilio's own helper libraries (RequestValidator) also accept the URL with
the default port added or removed, because proxies differ in whether they keep it;
``signed_url_candidates`` does the same.

Unlike Meta's HMAC, the signature covers the *decoded parameters*, not the bytes:
the same parameters in another order or spelling verify too. The raw bytes are still
what the archive keeps (and hashes); the signature proves the parameters came from
Twilio. A body that cannot be decoded strictly (not UTF-8, an empty pair, a field
without ``=``) has no parameters to sign, so it never verifies.

A JSON body is signed another way: Twilio adds ``bodySHA256=<hex sha256 of the body>``
to the URL's query and signs the URL alone; ``verify_twilio`` checks both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Sequence

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
BODY_HASH_PARAM = "bodySHA256"
# A SHA-1 digest is 20 bytes: 28 base64 characters with one `=` of padding.
_SIGNATURE_FORMAT = re.compile(r"\A[A-Za-z0-9+/]{27}=\Z")
_DEFAULT_PORTS = {"https": "443", "http": "80"}


class FormError(ValueError):
    """The body is not a strictly decodable application/x-www-form-urlencoded form."""


def form_params(body: bytes) -> list[tuple[str, str]]:
    """The form's (name, value) pairs, decoded strictly; FormError when they cannot be."""
    try:
        text = body.decode("utf-8")
        if not text:
            return []
        return urllib.parse.parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise FormError("body is not a strictly decodable form") from None


def signing_string(url: str, params: Sequence[tuple[str, str]]) -> str:
    """URL, then name+value of each parameter: names sorted, a name's values sorted.

    As Twilio's helper libraries compute it: repeated identical values count once.
    """
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    parts = [url]
    for name in sorted(by_name):
        parts.extend(name + value for value in sorted(by_name[name]))
    return "".join(parts)


def compute_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    mac = hmac.new(
        auth_token.encode("utf-8"), signing_string(url, params).encode("utf-8"), hashlib.sha1
    )
    return base64.b64encode(mac.digest()).decode("ascii")


def sign_form(auth_token: str, url: str, body: bytes) -> str:
    """The header Twilio would send for this form body (tests and local tools)."""
    return compute_signature(auth_token, url, form_params(body))


def signed_url_candidates(url: str) -> list[str]:
    """The URL as built, then with its default port added or removed (Twilio's libraries)."""
    parts = urllib.parse.urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    host = parts.hostname or ""
    if default is None or not host or "@" in parts.netloc:
        return [url]
    bracketed = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is None:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif str(port) == default:
        other = parts._replace(netloc=bracketed)
    else:
        return [url]
    return [url, urllib.parse.urlunsplit(other)]


def _body_hash_ok(url: str, body: bytes) -> bool | None:
    """None when the URL carries no bodySHA256; else whether it is this body's sha256."""
    query = urllib.parse.urlsplit(url).query
    values = [v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
              if k == BODY_HASH_PARAM]
    if not values:
        return None
    expected = hashlib.sha256(body).hexdigest().encode("ascii")
    return len(values) == 1 and hmac.compare_digest(values[0].lower().encode(), expected)


def verify_twilio(
    body: bytes, signature: str | None, url: str, auth_tokens: Sequence[str]
) -> str | None:
    """The auth token that verifies ``signature`` for ``body`` at ``url``, or None.

    Every token is tried (no early exit, constant-time compares) so timing does not tell
    which one matched or how close a forgery came.
    """
    if signature is None or _SIGNATURE_FORMAT.match(signature.strip()) is None:
        return None
    presented = signature.strip().encode("ascii")
    hashed = _body_hash_ok(url, body)
    if hashed is False:
        return None
    try:
        params: list[tuple[str, str]] = [] if hashed else form_params(body)
    except FormError:
        return None
    found: str | None = None
    for token in auth_tokens:
        if not token:
            continue
        expected = compute_signature(token, url, params).encode("ascii")
        if hmac.compare_digest(expected, presented) and found is None:
            found = token
    return found


def find_signed_url(
    body: bytes, signature: str | None, url: str, auth_tokens: Sequence[str]
) -> tuple[str, str] | None:
    """(the URL variant Twilio signed, the token that verifies it), or None.

    The front door keeps exactly that URL as custody, so a later re-check needs no
    guessing about ports.
    """
    found: tuple[str, str] | None = None
    for candidate in signed_url_candidates(url):
        token = verify_twilio(body, signature, candidate, auth_tokens)
        if token is not None and found is None:
            found = (candidate, token)
    return found
