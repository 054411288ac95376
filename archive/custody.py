"""Chain of custody: how a raw body was authenticated, re-checkable at any later time.

Two methods exist today:

- ``meta-hmac-sha256``: Meta's ``X-Hub-Signature-256`` header, kept verbatim. Anyone who
  holds the app secret can re-verify it against the raw body years later.
- ``outbound-api-mac``: a capture posted by the firm's own systems carries no provider
  signature, so the front door MACs the body with ``CUSTODY_MAC_KEY``, a key only the
  app can read. The MAC proves the body passed the authenticated front door unchanged;
  it does not prove what WhatsApp delivered.

A signature is never a credential, so keeping it in WORM storage is safe. Beside it the
custody keeps a *key id*: a short MAC of a fixed label under the secret that verified
the body. It names the secret without revealing it, so a later check can tell "this
signature was made with a secret we no longer hold" (rotated away) from "this signature
does not verify with a secret we do hold" (altered or forged).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from archive.signature import verify_signature
from archive.timestamps import from_iso, iso_utc

CustodyMethod = Literal["meta-hmac-sha256", "outbound-api-mac"]
METHOD_META: CustodyMethod = "meta-hmac-sha256"
METHOD_OUTBOUND: CustodyMethod = "outbound-api-mac"
METHOD_OF_SOURCE: dict[str, CustodyMethod] = {"meta": METHOD_META, "outbound": METHOD_OUTBOUND}
SIGNED_BY: dict[str, str] = {METHOD_META: "meta", METHOD_OUTBOUND: "archive-front-door"}

_MAC_FORMAT = re.compile(r"\Ahmac-sha256=([0-9a-f]{64})\Z")
_KEY_ID_LABEL = b"wa-archive custody key id v1"
KEY_ID_CHARS = 16

Verdict = Literal["verified", "secret-retired", "invalid"]


class CustodyError(ValueError):
    """A body or input that cannot be tied to an authenticated raw body.

    The message starts with ``custody:`` so the orchestrator can tell it from a
    transient storage error (it does not retry into success) and quarantine instead.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"custody: {reason}")
        self.reason = reason


def key_id(secret: str) -> str:
    """Public name of a secret: reveals nothing usable, changes when the secret does."""
    digest = hmac.new(secret.encode("utf-8"), _KEY_ID_LABEL, hashlib.sha256).hexdigest()
    return digest[:KEY_ID_CHARS]


def outbound_mac(body: bytes, key: str) -> str:
    return "hmac-sha256=" + hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _verify_mac(body: bytes, presented: str | None, key: str) -> bool:
    if presented is None or _MAC_FORMAT.match(presented.strip()) is None:
        return False
    return hmac.compare_digest(outbound_mac(body, key).encode(), presented.strip().encode())


def _verifies(method: str, body: bytes, signature: str | None, secret: str) -> bool:
    if method == METHOD_META:
        return verify_signature(body, signature, [secret])
    if method == METHOD_OUTBOUND:
        return _verify_mac(body, signature, secret)
    return False


def verifying_key_id(
    method: str, body: bytes, signature: str | None, secrets: Sequence[str]
) -> str | None:
    """The key id of the secret that verifies ``signature`` over ``body``, or None.

    Every secret is tried (no early exit) so timing does not reveal which one matched.
    """
    found: str | None = None
    for secret in secrets:
        if secret and _verifies(method, body, signature, secret) and found is None:
            found = key_id(secret)
    return found


def verdict(
    method: str, body: bytes, signature: str | None, recorded_key_id: str | None,
    secrets: Sequence[str],
) -> Verdict:
    """A later re-check: verified, made with a secret we no longer hold, or invalid."""
    if verifying_key_id(method, body, signature, secrets) is not None:
        return "verified"
    held = {key_id(secret) for secret in secrets if secret}
    if recorded_key_id and recorded_key_id not in held:
        return "secret-retired"
    return "invalid"


@dataclass(frozen=True)
class Custody:
    """What the raw blob's metadata and each record's ``custody`` object hold."""

    method: str
    signature: str
    key_id: str
    authenticated_at: datetime  # the front door's receive time, when it first verified

    def to_record(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "signed_by": SIGNED_BY.get(self.method, "unknown"),
            "signature": self.signature,
            "key_id": self.key_id,
            "authenticated_at": iso_utc(self.authenticated_at),
            "verified": ["front-door", "queue-worker", "store-record"],
        }

    def to_metadata(self, body_sha256: str, source: str) -> dict[str, str]:
        """Blob metadata (ASCII values; keys are C# identifiers as Azure requires)."""
        return {
            "custody_method": self.method,
            "signature": self.signature,
            "key_id": self.key_id,
            "sha256": body_sha256,
            "received_at": iso_utc(self.authenticated_at),
            "source": source,
        }


def custody_from_metadata(metadata: dict[str, str]) -> Custody:
    """Read back what to_metadata wrote; CustodyError when anything is missing."""
    try:
        received = from_iso(metadata["received_at"])
        if received is None:
            raise KeyError("received_at")
        return Custody(
            method=metadata["custody_method"],
            signature=metadata["signature"],
            key_id=metadata["key_id"],
            authenticated_at=received,
        )
    except KeyError as missing:
        raise CustodyError(f"raw body has no custody metadata ({missing.args[0]})") from None
