"""Event Grid endpoint validation, for ``POST|OPTIONS /api/webhooks/acs``.

Two handshakes prove the endpoint wants the events (neither authenticates anything):

- Event Grid schema: at subscription time Event Grid POSTs an array holding only one
  ``Microsoft.EventGrid.SubscriptionValidationEvent``; the endpoint answers 200 with
  ``{"validationResponse": "<data.validationCode>"}``.
- CloudEvents 1.0 (abuse protection): an HTTP OPTIONS with ``WebHook-Request-Origin``
  (and optionally ``WebHook-Request-Rate``); the endpoint grants delivery by answering
  ``WebHook-Allowed-Origin`` (the origin) and ``WebHook-Allowed-Rate``.

Both answers reflect request data, so only well-formed values are echoed: a validation
code of ``[0-9A-Za-z_-]`` (Event Grid sends GUIDs) and an origin that is a DNS name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping

from archive.meta.body import load_body
from archive.meta.shapes import obj, text

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
REQUEST_ORIGIN = "WebHook-Request-Origin"
REQUEST_RATE = "WebHook-Request-Rate"
ALLOWED_ORIGIN = "WebHook-Allowed-Origin"
ALLOWED_RATE = "WebHook-Allowed-Rate"
# No rate limit of ours: the front door's size cap and Event Grid's own batching apply.
UNLIMITED_RATE = "*"

_CODE = re.compile(r"[0-9A-Za-z_-]{1,128}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_RATE = re.compile(r"[1-9][0-9]{0,8}")


def validation_response(body: bytes) -> bytes | None:
    """``{"validationResponse": code}`` for a validation delivery; None for anything else.

    Event Grid documents that the validation array holds only the validation event.
    A body mixing it with other events (or holding two) is therefore not a handshake:
    None, so the route treats it as an ordinary delivery (authenticated, archived; the
    parser keeps the validation event as a ``system`` event) and answers no code.
    """
    document, problem = load_body(body)
    if problem is not None or not isinstance(document, list) or len(document) != 1:
        return None
    event = document[0]
    if not isinstance(event, dict) or text(event, "eventType") != VALIDATION_EVENT:
        return None
    code = obj(event, "data").get("validationCode")
    if not isinstance(code, str) or _CODE.fullmatch(code) is None:
        return None
    return json.dumps({"validationResponse": code}, separators=(",", ":")).encode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (plain dicts and HTTP header maps alike)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def options_response_headers(
    headers: Mapping[str, str], *, allowed_origins: Collection[str] | None = None
) -> dict[str, str] | None:
    """The CloudEvents abuse-protection answer, or None when this is not a valid handshake.

    The origin must be a DNS name (no control characters, spaces, commas or schemes) and,
    when ``allowed_origins`` is given, one of them (case-insensitive); it is echoed as sent.
    A requested rate must be a positive integer and is granted as asked; without one the
    answer is ``*`` (no limit), which the spec says SHOULD be sent anyway.
    """
    origin = _header(headers, REQUEST_ORIGIN)
    if origin is None:
        return None
    origin = origin.strip(" \t")
    if len(origin) > 253 or _DNS_NAME.fullmatch(origin) is None:
        return None
    if allowed_origins is not None and origin.lower() not in {
        o.strip().lower() for o in allowed_origins
    }:
        return None
    rate = UNLIMITED_RATE
    requested = _header(headers, REQUEST_RATE)
    if requested is not None:
        requested = requested.strip(" \t")
        if _RATE.fullmatch(requested) is None:
            return None
        rate = requested
    return {ALLOWED_ORIGIN: origin, ALLOWED_RATE: rate, "Allow": "POST, OPTIONS"}
