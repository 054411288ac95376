"""Meta webhook verification handshake (``GET /api/webhooks/meta``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping


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
    if not challenge:
        return None
    return challenge
