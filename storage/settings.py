"""App settings read by the pipeline, by name from archive.names.

Settings are read at use, not at import, so a missing one fails the request that
needs it with an error naming the setting (and tests can change the environment).
"""

from __future__ import annotations

import os

from archive.media_hosts import HostAllowlist, parse_allowlist
from archive.names import (
    SETTING_ACCESS_TOKEN,
    SETTING_APP_SECRET,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_GRAPH_URL,
    SETTING_MAX_MEDIA_BYTES,
    SETTING_MAX_WEBHOOK_BYTES,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_OUTBOUND_SENDERS,
    SETTING_RETENTION_DAYS,
    SETTING_VERIFY_TOKEN,
)

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
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


def media_host_allowlist() -> HostAllowlist:
    """Hosts media may be fetched from (archive.media_hosts); Meta's when unset."""
    try:
        return parse_allowlist(optional(SETTING_MEDIA_HOST_ALLOWLIST))
    except ValueError as exc:
        raise SettingError(f"app setting {SETTING_MEDIA_HOST_ALLOWLIST}: {exc}") from None
