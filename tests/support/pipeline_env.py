"""App settings for running the pipeline code against a test Azurite."""

from __future__ import annotations

import pytest

from archive.names import (
    SETTING_ACCESS_TOKEN,
    SETTING_ACS_ENDPOINT,
    SETTING_ACS_WEBHOOK_SECRET,
    SETTING_APP_SECRET,
    SETTING_ARCHIVE_STORAGE,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_GRAPH_URL,
    SETTING_HOST_STORAGE,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_POISON_DRAIN_SCHEDULE,
    SETTING_PUBLIC_BASE_URL,
    SETTING_RETENTION_SCHEDULE,
    SETTING_SEAL_SCHEDULE,
    SETTING_TWILIO_ACCOUNT_SID,
    SETTING_TWILIO_AUTH_TOKEN,
    SETTING_VERIFY_SCHEDULE,
    SETTING_VERIFY_TOKEN,
    SETTING_WASENDER_API_KEY,
    SETTING_WASENDER_API_URL,
    SETTING_WASENDER_WEBHOOK_SECRET,
)
from storage.provision import ensure_archive_resources
from tests.support.media_server import TOKEN
from tests.support.webhooks import APP_SECRET, CUSTODY_MAC_KEY, RETIRED_SECRET, VERIFY_TOKEN

# Providers of issue 13 (each secret at least 16 characters, as the app requires).
WASENDER_SECRET = "test-wasender-webhook-secret-0123"
WASENDER_RETIRED_SECRET = "old-wasender-webhook-secret-0123"
WASENDER_API_KEY = "test-wasender-session-api-key-0123"
TWILIO_AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
TWILIO_RETIRED_TOKEN = "fedcba9876543210fedcba9876543210"
TWILIO_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
ACS_WEBHOOK_SECRET = "test-acs-webhook-url-secret-0123"
# Where Twilio is told to call; e2e stacks replace it with their devhost's own URL.
PUBLIC_BASE_URL = "http://127.0.0.1:7071"
# No provider API by default: tests with media point these at their stand-ins.
NO_SERVER = "http://127.0.0.1:9"


def provider_settings(
    public_base_url: str = PUBLIC_BASE_URL, *, wasender_api_url: str = NO_SERVER,
    acs_endpoint: str = NO_SERVER,
) -> dict[str, str]:
    """WASender, Twilio and ACS settings (rotation lists: the current secret first)."""
    return {
        SETTING_WASENDER_WEBHOOK_SECRET: f"{WASENDER_SECRET},{WASENDER_RETIRED_SECRET}",
        SETTING_WASENDER_API_KEY: WASENDER_API_KEY,
        SETTING_WASENDER_API_URL: wasender_api_url,
        SETTING_TWILIO_AUTH_TOKEN: f"{TWILIO_AUTH_TOKEN},{TWILIO_RETIRED_TOKEN}",
        SETTING_TWILIO_ACCOUNT_SID: TWILIO_ACCOUNT_SID,
        SETTING_PUBLIC_BASE_URL: public_base_url,
        SETTING_ACS_ENDPOINT: acs_endpoint,
        SETTING_ACS_WEBHOOK_SECRET: ACS_WEBHOOK_SECRET,
    }


def settings_for(conn: str, graph_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {
        **provider_settings(),
        SETTING_HOST_STORAGE: conn,
        SETTING_ARCHIVE_STORAGE: conn,
        SETTING_APP_SECRET: f"{RETIRED_SECRET},{APP_SECRET}",
        SETTING_CUSTODY_MAC_KEY: CUSTODY_MAC_KEY,
        # Once a year: tests that look at ingest-poison must find their messages there.
        SETTING_POISON_DRAIN_SCHEDULE: "0 0 0 1 1 *",
        # Once a year too: seals and verification run when a test asks for them.
        SETTING_SEAL_SCHEDULE: "0 0 0 1 1 *",
        SETTING_VERIFY_SCHEDULE: "0 0 0 1 1 *",
        # And retention: it deletes, so it runs only when a test asks for it.
        SETTING_RETENTION_SCHEDULE: "0 0 0 1 1 *",
        SETTING_VERIFY_TOKEN: VERIFY_TOKEN,
        SETTING_ACCESS_TOKEN: TOKEN,
        SETTING_GRAPH_URL: graph_url,
        # The Graph stand-in is plain http on 127.0.0.1: allowed only because it is listed.
        SETTING_MEDIA_HOST_ALLOWLIST: "127.0.0.1",
    }


def use_archive(monkeypatch: pytest.MonkeyPatch, conn: str, graph_url: str | None = None) -> None:
    for name, value in settings_for(conn, graph_url or "http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    ensure_archive_resources(conn)
