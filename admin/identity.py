"""Who is acting, for the audit trail: the signed-in Entra ID identity, or the OS user.

With --account the admin tools sign in with DefaultAzureCredential; the access token
for Storage names the identity in its claims (`upn` for a person, `appid` for a
service principal, `oid` always). The token is decoded WITHOUT verifying its
signature: Storage verifies it; here it only attributes an audit entry.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import json
import os
import socket
from typing import Any

STORAGE_SCOPE = "https://storage.azure.com/.default"


def os_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (no signature check); {} when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        value = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def identity_from_claims(claims: dict[str, Any]) -> str | None:
    """`upn (oid)` for a person, `app:<appid> (oid)` for a service principal."""
    oid = claims.get("oid")
    name = claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name")
    if not name and claims.get("appid"):
        name = f"app:{claims['appid']}"
    if name and oid:
        return f"{name} (oid {oid})"
    if name or oid:
        return str(name or f"oid {oid}")
    return None


def entra_identity(credential: Any) -> str | None:
    """The identity behind `credential`'s Storage token, or None when it cannot tell."""
    try:
        token = credential.get_token(STORAGE_SCOPE).token
    except Exception:  # attribution must never break the action being audited
        return None
    return identity_from_claims(token_claims(str(token)))
