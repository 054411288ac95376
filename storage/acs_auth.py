"""Authenticate an Event Grid delivery of ACS events: Entra ID bearer token or URL secret.

Two ways, either or both configured (docs/providers.md, ACS):

- ``entra-bearer``: Event Grid's "Use Microsoft Entra authentication" sends
  ``Authorization: Bearer <JWT>`` for the webhook's Entra app. Accepted when the RS256
  signature verifies with the tenant's signing keys (JWKS from ``ACS_WEBHOOK_KEYS_URL``,
  default the tenant's v2.0 discovery keys) and ``archive.acs.token`` accepts its header
  and claims (``aud`` in ``ACS_WEBHOOK_AUDIENCE``, a comma list; issuer and ``tid`` of
  ``ACS_WEBHOOK_TENANT_ID``; ``exp``/``nbf`` with a 5-minute skew).
- ``url-secret``: the subscription's endpoint URL carries ``?secret=<ACS_WEBHOOK_SECRET>``
  (a comma list, for rotation), compared in constant time.

When Entra is configured and a bearer token is presented, the token alone decides: a
forged or expired token is refused even beside a correct URL secret. Neither the token
nor the secret is ever logged or returned; callers record only the method name.

Signing keys are cached for KEYS_TTL_SECONDS and refetched once (at most every
KEYS_REFRESH_COOLDOWN_SECONDS) when a token names a key id the cache does not hold, which
is how Entra's key rollover shows. When the keys cannot be fetched at all the request
cannot be judged: ``KeysUnavailable`` is raised, and the route answers 503 so that Event
Grid retries (a 401 would not be retried).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from archive.acs.token import TokenError, bearer_token, check_claims, check_header, parse_token
from archive.media_hosts import LOOPBACK_HOSTS
from archive.names import (
    SETTING_ACS_WEBHOOK_AUDIENCE,
    SETTING_ACS_WEBHOOK_SECRET,
    SETTING_ACS_WEBHOOK_TENANT_ID,
)
from storage import settings
from storage.media_http import direct_opener

log = logging.getLogger("wa_archive.ingest")

AUTH_ENTRA = "entra-bearer"
AUTH_URL_SECRET = "url-secret"  # noqa: S105 - a method name, not a secret
SECRET_PARAMETER = "secret"  # noqa: S105 - the query parameter's name
DEFAULT_KEYS_URL = "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
KEYS_TTL_SECONDS = 3600.0
KEYS_REFRESH_COOLDOWN_SECONDS = 60.0
KEYS_TIMEOUT_SECONDS = 5.0
MAX_KEYS_BYTES = 512 * 1024
MIN_RSA_BITS = 2048

KeyFetcher = Callable[[str], bytes]


class KeysUnavailable(RuntimeError):
    """The signing keys could not be fetched: the delivery cannot be judged (answer 503)."""


def fetch_keys(url: str) -> bytes:
    """The JWKS document at ``url``: https (plain http only to loopback), short timeout."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or not (parts.scheme == "https" or (
            parts.scheme == "http" and host in LOOPBACK_HOSTS)):
        raise KeysUnavailable("signing keys URL must be https")
    # Scheme checked above; the opener has no file: or ftp: handler anyway.
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        # No redirects: the keys URL is configured, and Entra's answers directly.
        with direct_opener().open(request, timeout=KEYS_TIMEOUT_SECONDS) as response:
            body: bytes = response.read(MAX_KEYS_BYTES + 1)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is OSError
        raise KeysUnavailable(f"signing keys unreachable ({type(exc).__name__})") from None
    if len(body) > MAX_KEYS_BYTES:
        raise KeysUnavailable("signing keys document is too large")
    return body


def _b64url_int(value: object) -> int | None:
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if raw else None


def parse_keys(document: bytes) -> dict[str, rsa.RSAPublicKey]:
    """RSA signing keys by ``kid``; keys for other uses, algorithms or types are skipped."""
    try:
        doc: Any = json.loads(document)
    except (ValueError, RecursionError):
        raise KeysUnavailable("signing keys document is not JSON") from None
    keys: dict[str, rsa.RSAPublicKey] = {}
    entries = doc.get("keys") if isinstance(doc, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        kid, n, e = entry.get("kid"), _b64url_int(entry.get("n")), _b64url_int(entry.get("e"))
        if not isinstance(kid, str) or n is None or e is None or n.bit_length() < MIN_RSA_BITS:
            continue
        try:
            keys[kid] = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            continue
    return keys


class KeyCache:
    """One JWKS URL's keys: TTL-cached, refetched once on an unknown key id."""

    def __init__(
        self,
        url: str,
        *,
        fetch: KeyFetcher = fetch_keys,
        ttl: float = KEYS_TTL_SECONDS,
        cooldown: float = KEYS_REFRESH_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.fetches = 0
        self._fetch, self._ttl, self._cooldown, self._clock = fetch, ttl, cooldown, clock
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        self.fetches += 1
        self._fetched_at = self._clock()
        try:
            keys = parse_keys(self._fetch(self.url))
        except KeysUnavailable:
            if not self._keys:
                raise
            # Keep serving the keys we have: Entra rolls keys over slowly, and refusing
            # every delivery during a short outage of the keys endpoint helps nobody.
            log.warning("acs signing keys refresh failed; keeping the cached keys")
            return
        self._keys = keys

    def key(self, kid: str) -> rsa.RSAPublicKey | None:
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._ttl:
                self._refresh()
            elif kid not in self._keys and now - self._fetched_at >= self._cooldown:
                self._refresh()  # a rolled-over key: fetch once more
            return self._keys.get(kid)


def verify_bearer(
    token: str, *, audiences: list[str], tenant_id: str, keys: KeyCache, now: datetime
) -> bool:
    """True when the token is a valid RS256 Entra token for ``audiences`` in the tenant."""
    try:
        parsed = parse_token(token)
        kid = check_header(parsed.header)
        # Claims first: an expired or foreign token costs no key fetch.
        check_claims(parsed.claims, audiences=audiences, tenant_id=tenant_id, at=now)
    except TokenError as exc:
        log.warning("acs bearer token refused: %s", exc)
        return False
    key = keys.key(kid)
    if key is None:
        log.warning("acs bearer token refused: unknown signing key")
        return False
    try:
        key.verify(parsed.signature, parsed.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        log.warning("acs bearer token refused: bad signature")
        return False
    return True


_caches: dict[str, KeyCache] = {}
_caches_lock = threading.Lock()


def key_cache(url: str) -> KeyCache:
    """The process-wide cache for one keys URL (shared by all requests of this worker)."""
    with _caches_lock:
        cache = _caches.get(url)
        if cache is None:
            cache = _caches[url] = KeyCache(url)
        return cache


def secret_matches(presented: str | None, secrets: list[str]) -> bool:
    """Constant time in the secret: every configured secret is compared, hashed to one length."""
    if presented is None:
        return False
    digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(digest, hashlib.sha256(secret.encode("utf-8")).digest())
    return matched


def _lookup(mapping: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in mapping.items():
        if key.lower() == wanted:
            return value
    return None


def _audiences() -> list[str]:
    value = settings.acs_webhook_audience() or ""
    return [a.strip() for a in value.split(",") if a.strip()]


def keys_url(tenant_id: str) -> str:
    """ACS_WEBHOOK_KEYS_URL (https, or loopback http), else the tenant's v2.0 discovery keys."""
    return settings.acs_webhook_keys_url() or DEFAULT_KEYS_URL.format(
        tenant=urllib.parse.quote(tenant_id.strip().lower(), safe="")
    )


def authenticate_acs(
    headers: Mapping[str, str], query: Mapping[str, str], *, now: datetime | None = None
) -> str | None:
    """``"entra-bearer"``, ``"url-secret"`` or None (refuse: 401, nothing stored).

    SettingError when neither method is configured (the route answers 500);
    KeysUnavailable when a bearer token arrives and no signing keys can be had (503).
    """
    audiences = _audiences()
    tenant = settings.acs_webhook_tenant_id()
    secret_configured = settings.optional(SETTING_ACS_WEBHOOK_SECRET) is not None
    entra = bool(audiences and tenant)
    if not entra and not secret_configured:
        raise settings.SettingError(
            f"app settings {SETTING_ACS_WEBHOOK_AUDIENCE} and {SETTING_ACS_WEBHOOK_TENANT_ID}, "
            f"or {SETTING_ACS_WEBHOOK_SECRET}, must be set"
        )
    token = bearer_token(_lookup(headers, "Authorization"))
    if entra and token is not None:
        assert tenant is not None
        ok = verify_bearer(token, audiences=audiences, tenant_id=tenant,
                           keys=key_cache(keys_url(tenant)), now=now or datetime.now(UTC))
        return AUTH_ENTRA if ok else None
    if secret_configured:
        presented = _lookup(query, SECRET_PARAMETER)
        if secret_matches(presented, settings.secret_list(SETTING_ACS_WEBHOOK_SECRET)):
            return AUTH_URL_SECRET
    return None
