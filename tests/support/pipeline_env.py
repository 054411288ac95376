"""App settings for running the pipeline code against a test Azurite."""

from __future__ import annotations

import pytest

from archive.names import (
    SETTING_ACCESS_TOKEN,
    SETTING_APP_SECRET,
    SETTING_ARCHIVE_STORAGE,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_GRAPH_URL,
    SETTING_HOST_STORAGE,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_POISON_DRAIN_SCHEDULE,
    SETTING_SEAL_SCHEDULE,
    SETTING_VERIFY_SCHEDULE,
    SETTING_VERIFY_TOKEN,
)
from storage.provision import ensure_archive_resources
from tests.support.media_server import TOKEN
from tests.support.webhooks import APP_SECRET, CUSTODY_MAC_KEY, RETIRED_SECRET, VERIFY_TOKEN


def settings_for(conn: str, graph_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    return {
        SETTING_HOST_STORAGE: conn,
        SETTING_ARCHIVE_STORAGE: conn,
        SETTING_APP_SECRET: f"{RETIRED_SECRET},{APP_SECRET}",
        SETTING_CUSTODY_MAC_KEY: CUSTODY_MAC_KEY,
        # Once a year: tests that look at ingest-poison must find their messages there.
        SETTING_POISON_DRAIN_SCHEDULE: "0 0 0 1 1 *",
        # Once a year too: seals and verification run when a test asks for them.
        SETTING_SEAL_SCHEDULE: "0 0 0 1 1 *",
        SETTING_VERIFY_SCHEDULE: "0 0 0 1 1 *",
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
