"""App settings read by the pipeline, by name from archive.names.

Settings are read at use, not at import, so a missing one fails the request that
needs it with an error naming the setting (and tests can change the environment).
"""

from __future__ import annotations

import os

from archive.names import (
    SETTING_ACCESS_TOKEN,
    SETTING_APP_SECRET,
    SETTING_GRAPH_URL,
    SETTING_MAX_MEDIA_BYTES,
    SETTING_MAX_WEBHOOK_BYTES,
    SETTING_RETENTION_DAYS,
    SETTING_VERIFY_TOKEN,
)

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
DEFAULT_RETENTION_DAYS = 2557
# Meta batches up to ~1000 changes per delivery; real bodies stay well below 1 MiB.
DEFAULT_MAX_WEBHOOK_BYTES = 1024 * 1024
# WhatsApp's own ceiling is 100 MB (documents); anything larger is not a WhatsApp file.
DEFAULT_MAX_MEDIA_BYTES = 100 * 1024 * 1024


class SettingError(RuntimeError):
    """A required app setting is missing or malformed."""


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingError(f"app setting {name} is not set")
    return value


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
    secrets = [s.strip() for s in required(SETTING_APP_SECRET).split(",") if s.strip()]
    if not secrets:
        raise SettingError(f"app setting {SETTING_APP_SECRET} is not set")
    return secrets


def verify_token() -> str:
    return required(SETTING_VERIFY_TOKEN)


def access_token() -> str:
    return required(SETTING_ACCESS_TOKEN)


def graph_url() -> str:
    return (os.environ.get(SETTING_GRAPH_URL, "").strip() or DEFAULT_GRAPH_URL).rstrip("/")


def retention_days() -> int:
    return _positive_int(SETTING_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)


def max_webhook_bytes() -> int:
    return _positive_int(SETTING_MAX_WEBHOOK_BYTES, DEFAULT_MAX_WEBHOOK_BYTES)


def max_media_bytes() -> int:
    return _positive_int(SETTING_MAX_MEDIA_BYTES, DEFAULT_MAX_MEDIA_BYTES)
