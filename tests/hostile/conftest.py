"""Fixtures for the hostile-input tests: the pipeline's settings pointed at the session Azurite."""

from __future__ import annotations

import pytest

from tests.hostile.flow import take_envelopes
from tests.support.media_server import MediaServer
from tests.support.pipeline_env import use_archive


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch, azurite_conn: str, media_server: MediaServer) -> str:
    use_archive(monkeypatch, azurite_conn, graph_url=media_server.base_url)
    take_envelopes()  # start from an empty `ingest` queue
    return azurite_conn
