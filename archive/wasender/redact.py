"""Take WASender's session credential out of a webhook body before it is kept anywhere.

WASender's docs label the envelope's `sessionId` as the session API key. The raw body
is written to WORM storage, where nothing can ever be removed, so the value is replaced
with a marker before the body is enqueued, MACed and archived. Nothing provable is lost:
WASender signs no body (its header is the shared secret), so the front door's MAC over
the redacted bytes is the whole custody either way.

Only the value's bytes change, in place: the rest of the body stays byte for byte as
delivered. A body that is not JSON has no key to redact and is kept as it is (the
parser flags it).
"""

from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "[redacted: session credential]"
CREDENTIAL_KEYS = ("sessionId", "session_id")
# A JSON member whose key is one of the credential keys and whose value is a string.
# Inside a JSON string a quote is always escaped, so `"sessionId"` followed by `:` can
# only be a real key; the JSON check below confirms it for every body it changes.
_MEMBER = re.compile(
    rb'("(?:' + b"|".join(k.encode() for k in CREDENTIAL_KEYS) + rb')"\s*:\s*)"(?:[^"\\]|\\.)*"'
)


def _without_credentials(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if k in CREDENTIAL_KEYS and isinstance(v, str) else
                _without_credentials(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_credentials(v) for v in value]
    return value


def redact_credentials(body: bytes) -> tuple[bytes, int]:
    """The body with every string `sessionId`/`session_id` replaced, and how many were."""
    try:
        original = json.loads(body)
    except (ValueError, RecursionError):
        return body, 0
    marker = json.dumps(REDACTED).encode()
    redacted, count = _MEMBER.subn(lambda m: m.group(1) + marker, body)
    if count == 0:
        return body, 0
    expected = _without_credentials(original)
    try:
        same = json.loads(redacted) == expected
    except (ValueError, RecursionError):
        same = False
    if same:
        return redacted, count
    # A shape the byte-level edit cannot handle safely (e.g. a duplicate key): keep the
    # credential out anyway, at the cost of re-serialising the body.
    text = json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8"), count
