"""Chain of custody: how a raw body was authenticated, re-checkable at any later time.

The methods:

- ``meta-hmac-sha256``: Meta's ``X-Hub-Signature-256`` header, kept verbatim. Anyone who
  holds the app secret can re-verify it against the raw body years later.
- ``twilio-hmac-sha1``: Twilio's ``X-Twilio-Signature``, kept verbatim together with the
  exact URL it was computed over (``signed_url``); re-verifiable with the auth token.
- ``outbound-api-mac``: a capture posted by the firm's own systems carries no provider
  signature, so the front door MACs the body with ``CUSTODY_MAC_KEY``, a key only the
  app can read. The MAC proves the body passed the authenticated front door unchanged;
  it does not prove what WhatsApp delivered.
- ``wasender-shared-secret`` and ``acs-eventgrid``: what authenticates these deliveries
  is a credential (WASender's ``X-Webhook-Signature`` *is* the shared secret; Event Grid
  sends a bearer token or a secret in the URL), and a credential must never reach WORM
  storage. So custody records *how* the body was authenticated (``authenticated_by``)
  and the front door's MAC under ``CUSTODY_MAC_KEY``. That MAC is domain-separated: it
  covers the method and ``authenticated_by`` before the body, so neither can be swapped
  on a stored MAC, and a MAC made for one method never verifies for another.

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
from archive.twilio_signature import verify_twilio

CustodyMethod = Literal[
    "meta-hmac-sha256", "outbound-api-mac", "twilio-hmac-sha1", "wasender-shared-secret",
    "acs-eventgrid",
]
METHOD_META: CustodyMethod = "meta-hmac-sha256"
METHOD_OUTBOUND: CustodyMethod = "outbound-api-mac"
METHOD_TWILIO: CustodyMethod = "twilio-hmac-sha1"
METHOD_WASENDER: CustodyMethod = "wasender-shared-secret"
METHOD_ACS: CustodyMethod = "acs-eventgrid"
METHOD_OF_SOURCE: dict[str, CustodyMethod] = {
    "meta": METHOD_META,
    "outbound": METHOD_OUTBOUND,
    "twilio": METHOD_TWILIO,
    "wasender": METHOD_WASENDER,
    "acs": METHOD_ACS,
}
SIGNED_BY: dict[str, str] = {
    METHOD_META: "meta",
    METHOD_OUTBOUND: "archive-front-door",
    METHOD_TWILIO: "twilio",
    METHOD_WASENDER: "archive-front-door",
    METHOD_ACS: "archive-front-door",
}
# Methods whose `signature` is the front door's MAC under CUSTODY_MAC_KEY.
MAC_METHODS = frozenset({METHOD_OUTBOUND, METHOD_WASENDER, METHOD_ACS})
# How a delivery of each method may have been authenticated (custody `authenticated_by`).
AUTHENTICATED_BY: dict[str, frozenset[str]] = {
    METHOD_TWILIO: frozenset({"x-twilio-signature"}),
    METHOD_WASENDER: frozenset({"x-webhook-signature"}),
    METHOD_ACS: frozenset({"entra-bearer", "url-secret"}),
}
# Blob metadata is at most 8 KiB in all; a signed URL longer than this is refused.
MAX_SIGNED_URL_CHARS = 2048

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


def front_door_mac(method: str, authenticated_by: str, body: bytes, key: str) -> str:
    """The MAC kept for a delivery authenticated by a credential that may not be stored.

    Domain-separated (method, then how it was authenticated, then the body), so a MAC
    cannot be moved to another method or relabelled; same format as ``outbound_mac``.
    """
    mac = hmac.new(key.encode("utf-8"), digestmod=hashlib.sha256)
    mac.update(f"wa-archive custody v1\n{method}\n{authenticated_by}\n".encode())
    mac.update(body)
    return "hmac-sha256=" + mac.hexdigest()


def _verify_mac(body: bytes, presented: str | None, expected: str) -> bool:
    if presented is None or _MAC_FORMAT.match(presented.strip()) is None:
        return False
    return hmac.compare_digest(expected.encode(), presented.strip().encode())


def _how_allowed(method: str, authenticated_by: str | None) -> bool:
    allowed = AUTHENTICATED_BY.get(method)
    return authenticated_by is None if allowed is None else authenticated_by in allowed


def _verifies(
    method: str, body: bytes, signature: str | None, secret: str,
    authenticated_by: str | None, signed_url: str | None,
) -> bool:
    if method == METHOD_META:
        return verify_signature(body, signature, [secret])
    if method == METHOD_OUTBOUND:
        return _verify_mac(body, signature, outbound_mac(body, secret))
    if method == METHOD_TWILIO:
        return signed_url is not None and verify_twilio(
            body, signature, signed_url, [secret]
        ) is not None
    if method in (METHOD_WASENDER, METHOD_ACS) and authenticated_by is not None:
        expected = front_door_mac(method, authenticated_by, body, secret)
        return _verify_mac(body, signature, expected)
    return False


def verifying_key_id(
    method: str, body: bytes, signature: str | None, secrets: Sequence[str],
    *, authenticated_by: str | None = None, signed_url: str | None = None,
) -> str | None:
    """The key id of the secret that verifies ``signature`` over ``body``, or None.

    ``authenticated_by`` must be one the method allows (none for Meta and outbound);
    Twilio needs the ``signed_url`` its signature covers. Every secret is tried (no
    early exit) so timing does not reveal which one matched.
    """
    if not _how_allowed(method, authenticated_by):
        return None
    if signed_url is not None and (method != METHOD_TWILIO or not signed_url_fits(signed_url)):
        return None
    found: str | None = None
    for secret in secrets:
        if (
            secret
            and _verifies(method, body, signature, secret, authenticated_by, signed_url)
            and found is None
        ):
            found = key_id(secret)
    return found


def signed_url_fits(url: str) -> bool:
    """Fit for blob metadata: printable ASCII, bounded (a URL we could not keep, we refuse)."""
    return 0 < len(url) <= MAX_SIGNED_URL_CHARS and all(0x20 < ord(c) < 0x7F for c in url)


def custody_key_id(custody: Custody, body: bytes, secrets: Sequence[str]) -> str | None:
    """verifying_key_id for what a Custody holds."""
    return verifying_key_id(
        custody.method, body, custody.signature, secrets,
        authenticated_by=custody.authenticated_by, signed_url=custody.signed_url,
    )


def verdict(
    method: str, body: bytes, signature: str | None, recorded_key_id: str | None,
    secrets: Sequence[str], *, authenticated_by: str | None = None,
    signed_url: str | None = None,
) -> Verdict:
    """A later re-check: verified, made with a secret we no longer hold, or invalid."""
    if verifying_key_id(
        method, body, signature, secrets,
        authenticated_by=authenticated_by, signed_url=signed_url,
    ) is not None:
        return "verified"
    held = {key_id(secret) for secret in secrets if secret}
    if recorded_key_id and recorded_key_id not in held:
        return "secret-retired"
    return "invalid"


@dataclass(frozen=True)
class Custody:
    """What the raw blob's metadata and each record's ``custody`` object hold."""

    method: str
    signature: str  # a provider signature or the front door's MAC; never a credential
    key_id: str
    authenticated_at: datetime  # the front door's receive time, when it first verified
    # How the delivery was authenticated, for methods with more than one way (or whose
    # credential cannot be kept): e.g. "x-webhook-signature", "entra-bearer".
    authenticated_by: str | None = None
    signed_url: str | None = None  # Twilio: the exact URL its signature covers

    def _extras(self) -> dict[str, str]:
        extras: dict[str, str] = {}
        if self.authenticated_by is not None:
            extras["authenticated_by"] = self.authenticated_by
        if self.signed_url is not None:
            extras["signed_url"] = self.signed_url
        return extras

    def to_record(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "signed_by": SIGNED_BY.get(self.method, "unknown"),
            "signature": self.signature,
            "key_id": self.key_id,
            "authenticated_at": iso_utc(self.authenticated_at),
            "verified": ["front-door", "queue-worker", "store-record"],
            **self._extras(),
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
            **self._extras(),
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
            authenticated_by=metadata.get("authenticated_by"),
            signed_url=metadata.get("signed_url"),
        )
    except KeyError as missing:
        raise CustodyError(f"raw body has no custody metadata ({missing.args[0]})") from None
