"""App settings read by the pipeline, by name from archive.names.

Settings are read at use, not at import, so a missing one fails the request that
needs it with an error naming the setting (and tests can change the environment).
"""

from __future__ import annotations

import os
import urllib.parse

from archive.media_hosts import LOOPBACK_HOSTS, HostAllowlist, default_media_hosts, parse_allowlist
from archive.names import (
    SETTING_ACCESS_TOKEN,
    SETTING_ACS_ENDPOINT,
    SETTING_ACS_WEBHOOK_AUDIENCE,
    SETTING_ACS_WEBHOOK_KEYS_URL,
    SETTING_ACS_WEBHOOK_SECRET,
    SETTING_ACS_WEBHOOK_TENANT_ID,
    SETTING_APP_SECRET,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_GRAPH_URL,
    SETTING_MAX_MEDIA_BYTES,
    SETTING_MAX_WEBHOOK_BYTES,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_OUTBOUND_SENDERS,
    SETTING_PUBLIC_BASE_URL,
    SETTING_RETENTION_DAYS,
    SETTING_TWILIO_ACCOUNT_SID,
    SETTING_TWILIO_AUTH_TOKEN,
    SETTING_VERIFY_TOKEN,
    SETTING_WASENDER_API_KEY,
    SETTING_WASENDER_API_URL,
    SETTING_WASENDER_WEBHOOK_SECRET,
)

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
# WASender's documented API base (wasenderapi.com/api-docs); decrypt-media lives under it.
DEFAULT_WASENDER_API_URL = "https://www.wasenderapi.com/api"
# Entra ID's signing keys for a tenant (OpenID discovery, v2.0 endpoint).
ENTRA_KEYS_URL = "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
DEFAULT_RETENTION_DAYS = 2557
# Meta batches up to ~1000 changes per delivery; real bodies stay well below 1 MiB.
DEFAULT_MAX_WEBHOOK_BYTES = 1024 * 1024
# WhatsApp's own ceiling is 100 MB (documents); anything larger is not a WhatsApp file.
DEFAULT_MAX_MEDIA_BYTES = 100 * 1024 * 1024
# When App Service cannot resolve a Key Vault or App Configuration reference it passes
# the reference text itself as the value. That text is predictable (vault name and
# secret name), so accepting it as an HMAC secret would let anyone sign webhooks.
UNRESOLVED_REFERENCE_PREFIXES = ("@Microsoft.KeyVault(", "@Microsoft.AppConfiguration(")
# Meta app secrets are 32 hex characters; anything much shorter is a placeholder.
MIN_SECRET_CHARS = 16


class SettingError(RuntimeError):
    """A required app setting is missing or malformed. The message names the setting only."""


def _checked(name: str, value: str) -> str:
    if value.startswith(UNRESOLVED_REFERENCE_PREFIXES):
        raise SettingError(
            f"app setting {name} is an unresolved Key Vault or App Configuration reference"
        )
    return value


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingError(f"app setting {name} is not set")
    return _checked(name, value)


def optional(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return _checked(name, value) if value else None


def secret_list(name: str) -> list[str]:
    """A comma-separated secret setting (rotation: old and new side by side), each >= 16 chars."""
    secrets = [s.strip() for s in required(name).split(",") if s.strip()]
    if not secrets:
        raise SettingError(f"app setting {name} is not set")
    for secret in secrets:
        _checked(name, secret)
        if len(secret) < MIN_SECRET_CHARS:
            raise SettingError(
                f"app setting {name} holds a secret shorter than {MIN_SECRET_CHARS} characters"
            )
    return secrets


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"app setting {name} must be a whole number") from None
    if value <= 0:
        raise SettingError(f"app setting {name} must be greater than zero")
    return value


def app_secrets() -> list[str]:
    """All accepted app secrets: comma-separated so a secret can be rotated without downtime."""
    return secret_list(SETTING_APP_SECRET)


def custody_mac_keys() -> list[str]:
    """Keys for the front door's MAC over unsigned (outbound) bodies; the first one signs."""
    return secret_list(SETTING_CUSTODY_MAC_KEY)


def outbound_senders() -> list[str]:
    """The firm's own business ids outbound captures may name as `from` (empty: any)."""
    value = optional(SETTING_OUTBOUND_SENDERS) or ""
    return [part.strip() for part in value.split(",") if part.strip()]


def verify_token() -> str:
    return required(SETTING_VERIFY_TOKEN)


def access_token() -> str:
    return required(SETTING_ACCESS_TOKEN)


def graph_url() -> str:
    return (optional(SETTING_GRAPH_URL) or DEFAULT_GRAPH_URL).rstrip("/")


def retention_days() -> int:
    return _positive_int(SETTING_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)


def max_webhook_bytes() -> int:
    return _positive_int(SETTING_MAX_WEBHOOK_BYTES, DEFAULT_MAX_WEBHOOK_BYTES)


def max_media_bytes() -> int:
    return _positive_int(SETTING_MAX_MEDIA_BYTES, DEFAULT_MAX_MEDIA_BYTES)


def media_host_allowlist(provider: str = "meta") -> HostAllowlist:
    """Hosts `provider`'s media may be fetched from (archive.media_hosts).

    MEDIA_HOST_ALLOWLIST, when set, overrides the defaults for every provider; unset,
    each provider has its own (for ACS: the host of ACS_ENDPOINT).
    """
    try:
        override = optional(SETTING_MEDIA_HOST_ALLOWLIST)
        if override:
            return parse_allowlist(override)
        endpoint = acs_endpoint() if provider == "acs" else None
        return parse_allowlist(None, defaults=default_media_hosts(provider, acs_endpoint=endpoint))
    except ValueError as exc:
        raise SettingError(f"app setting {SETTING_MEDIA_HOST_ALLOWLIST}: {exc}") from None


def _base_url(name: str, value: str) -> str:
    """An https base URL (plain http only to loopback, for local runs): no query, no user."""
    parts = urllib.parse.urlsplit(value)
    loopback = (parts.hostname or "") in LOOPBACK_HOSTS
    if (
        not parts.hostname
        or parts.scheme not in ("https", "http")
        or (parts.scheme == "http" and not loopback)
        or parts.query or parts.fragment or "@" in parts.netloc
        or any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in value)
    ):
        raise SettingError(
            f"app setting {name} must be an https URL with no query, fragment or user"
        )
    return value.rstrip("/")


# WASender (issue 13). The webhook secret is compared as a whole (it is the header's
# value itself), comma-separated so it can be rotated.
def wasender_webhook_secrets() -> list[str]:
    return secret_list(SETTING_WASENDER_WEBHOOK_SECRET)


def wasender_api_key() -> str:
    """The session API key media decryption is requested with (Bearer)."""
    return required(SETTING_WASENDER_API_KEY)


def wasender_api_url() -> str:
    value = optional(SETTING_WASENDER_API_URL) or DEFAULT_WASENDER_API_URL
    return _base_url(SETTING_WASENDER_API_URL, value)


# Twilio: the auth token signs webhooks (HMAC-SHA1) and, with the account SID,
# authenticates media downloads (HTTP basic auth). Comma-separated for rotation; the
# first one is used for downloads.
def twilio_auth_tokens() -> list[str]:
    return secret_list(SETTING_TWILIO_AUTH_TOKEN)


def twilio_account_sid() -> str:
    return required(SETTING_TWILIO_ACCOUNT_SID)


def public_base_url() -> str:
    """The public base URL providers call (Twilio signs the full URL it called)."""
    return _base_url(SETTING_PUBLIC_BASE_URL, required(SETTING_PUBLIC_BASE_URL))


# Azure Communication Services (Event Grid deliveries, media downloads).
def acs_endpoint() -> str:
    """The Communication Services endpoint URL, e.g. https://<name>.communication.azure.com.

    The setting may also be a connection string (`endpoint=...;accesskey=...`, local
    runs; storage.media_acs reads the key): only its endpoint is returned here.
    """
    value = required(SETTING_ACS_ENDPOINT)
    if "=" in value.split("//", 1)[0]:
        fields = dict(part.partition("=")[::2] for part in value.split(";"))
        value = {k.strip().lower(): v.strip() for k, v in fields.items()}.get("endpoint", "")
    return _base_url(SETTING_ACS_ENDPOINT, value)


def acs_webhook_audience() -> str | None:
    """The Entra ID audience Event Grid's bearer tokens are issued for (unset: no bearer auth)."""
    return optional(SETTING_ACS_WEBHOOK_AUDIENCE)


def acs_webhook_tenant_id() -> str | None:
    return optional(SETTING_ACS_WEBHOOK_TENANT_ID)


def acs_webhook_keys_url() -> str | None:
    """Where the token signing keys are read: the setting, else the tenant's discovery keys."""
    value = optional(SETTING_ACS_WEBHOOK_KEYS_URL)
    if value:
        return _base_url(SETTING_ACS_WEBHOOK_KEYS_URL, value)
    tenant = acs_webhook_tenant_id()
    return ENTRA_KEYS_URL.format(tenant=urllib.parse.quote(tenant, safe="")) if tenant else None


def acs_webhook_secrets() -> list[str]:
    """Secrets a delivery URL's `secret` parameter may carry (empty: no URL-secret auth)."""
    if optional(SETTING_ACS_WEBHOOK_SECRET) is None:
        return []
    return secret_list(SETTING_ACS_WEBHOOK_SECRET)
