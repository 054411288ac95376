"""Checks on an Entra ID bearer token that need no key material (pure; the time is passed in).

Event Grid can deliver with a Microsoft Entra ID access token (``Authorization: Bearer``)
for the webhook's Entra application. ``storage/acs_auth.py`` verifies the RS256 signature
with the tenant's signing keys; this module splits the compact JWS and checks its header
and claims:

- header: ``alg`` is exactly ``RS256`` (``none``, ``HS*`` and every other algorithm are
  refused, so a public key can never be used as an HMAC secret), a ``kid`` is present,
  and no ``crit`` extension we would not understand;
- ``aud`` is one of the configured audiences (the app id, or its Application ID URI);
- ``iss`` is the tenant's v1 (``https://sts.windows.net/<tenant>/``) or v2
  (``https://login.microsoftonline.com/<tenant>/v2.0``) issuer, and ``tid`` the tenant;
- ``exp`` is required and ``nbf`` honoured, each with a small clock skew.

Reasons are fixed short strings: they never quote the token or its claims.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ALGORITHM = "RS256"
# Entra access tokens are a few KiB; anything far larger is not one (and costs to decode).
MAX_TOKEN_CHARS = 16_384
DEFAULT_SKEW = timedelta(minutes=5)
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9._~+/-]+=*) *")


class TokenError(ValueError):
    """The token is refused; the message is a short fixed reason."""


@dataclass(frozen=True)
class ParsedToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes  # "<header>.<payload>" as sent: what the signature covers
    signature: bytes


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if authorization is None or len(authorization) > MAX_TOKEN_CHARS + 16:
        return None
    match = _BEARER.fullmatch(authorization.strip())
    return match.group(1) if match else None


def _b64url(part: str) -> bytes:
    if _B64URL.fullmatch(part) is None or len(part) % 4 == 1:
        raise TokenError("token is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("token is not base64url") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TokenError("token part is not a JSON object") from None
    if not isinstance(value, dict):
        raise TokenError("token part is not a JSON object")
    return value


def parse_token(token: str) -> ParsedToken:
    """Split a compact JWS (``header.payload.signature``) into its decoded parts."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("token is missing or too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("token is not a compact JWS")
    header, claims = _json_object(_b64url(parts[0])), _json_object(_b64url(parts[1]))
    return ParsedToken(header=header, claims=claims,
                       signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
                       signature=_b64url(parts[2]))


def check_header(header: dict[str, Any]) -> str:
    """The key id to verify with; TokenError unless the header is plain RS256."""
    if header.get("alg") != ALGORITHM:
        raise TokenError("token algorithm is not RS256")
    if "crit" in header:
        raise TokenError("token has critical header extensions")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise TokenError("token has no key id")
    return kid


def issuers_for(tenant_id: str) -> frozenset[str]:
    """Entra's v1 and v2 issuer strings of a tenant."""
    tenant = tenant_id.strip().lower()
    return frozenset({f"https://sts.windows.net/{tenant}/",
                      f"https://login.microsoftonline.com/{tenant}/v2.0"})


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _audience_ok(aud: object, audiences: Collection[str]) -> bool:
    wanted = {a for a in audiences if a}
    if isinstance(aud, str):
        return aud in wanted
    if isinstance(aud, list):
        return any(isinstance(a, str) and a in wanted for a in aud)
    return False


def check_claims(
    claims: dict[str, Any],
    *,
    audiences: Collection[str],
    tenant_id: str,
    at: datetime,
    skew: timedelta = DEFAULT_SKEW,
) -> None:
    """TokenError unless audience, issuer, tenant and validity window all hold at ``at``."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    tenant = tenant_id.strip().lower()
    if not tenant:
        raise TokenError("no tenant is configured")
    if not _audience_ok(claims.get("aud"), audiences):
        raise TokenError("token audience is not this app")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or issuer.lower() not in issuers_for(tenant):
        raise TokenError("token issuer is not the tenant's")
    tid = claims.get("tid")
    if not isinstance(tid, str) or tid.strip().lower() != tenant:
        raise TokenError("token tenant is not the configured tenant")
    instant = at.timestamp()
    margin = skew.total_seconds()
    expires = _seconds(claims.get("exp"))
    if expires is None:
        raise TokenError("token has no expiry")
    if instant >= expires + margin:
        raise TokenError("token has expired")
    not_before = claims.get("nbf")
    if not_before is not None:
        start = _seconds(not_before)
        if start is None:
            raise TokenError("token not-before is malformed")
        if instant < start - margin:
            raise TokenError("token is not valid yet")
