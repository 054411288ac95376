"""Meta ``X-Hub-Signature-256`` verification over the raw request bytes."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Hub-Signature-256"
_HEADER_FORMAT = re.compile(r"\Asha256=([0-9a-fA-F]{64})\Z")


def sign(raw_body: bytes, secret: str) -> str:
    """Header value Meta would send for ``raw_body`` (used by tests and local tools)."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(raw_body: bytes, header_value: str | None, secrets: Sequence[str]) -> bool:
    """True when the header is a valid HMAC-SHA256 of ``raw_body`` under any of ``secrets``.

    Several secrets are accepted so an app secret can be rotated without downtime. Every
    secret is checked (no early exit), and comparisons use ``hmac.compare_digest``.
    """
    if header_value is None:
        return False
    match = _HEADER_FORMAT.match(header_value.strip())
    if match is None:
        return False
    presented = match.group(1).lower().encode("ascii")
    valid = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode("ascii"), presented):
            valid = True
    return valid


def parse_secrets(setting_value: str | None) -> tuple[str, ...]:
    """Split the comma-separated secret setting; blanks are ignored."""
    if not setting_value:
        return ()
    return tuple(part.strip() for part in setting_value.split(",") if part.strip())
