"""Meta webhook verification handshake (``GET /api/webhooks/meta``)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

# Meta sends a numeric challenge; anything outside this set is reflected nowhere, so the
# anonymous route cannot be used to serve attacker-chosen text from the firm's host.
_CHALLENGE = re.compile(r"\A[0-9A-Za-z_-]{1,128}\Z")


def handshake_challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """Return ``hub.challenge`` when the request is a subscribe with the right token, else None."""
    if not verify_token:
        return None
    if params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token")
    if token is None:
        return None
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    challenge = params.get("hub.challenge")
    if not challenge or _CHALLENGE.match(challenge) is None:
        return None
    return challenge
