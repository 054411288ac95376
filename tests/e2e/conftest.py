"""The e2e stack: a private Azurite, the Graph stand-in and devhost on the real function_app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess
from tests.support.media_server import MediaServer


@pytest.fixture
def devhost(
    fresh_azurite: Azurite, media_server: MediaServer, tmp_path: Path
) -> Iterator[DevHostProcess]:
    ensure_archive_resources(fresh_azurite.connection_string)
    host = DevHostProcess(
        fresh_azurite.connection_string, media_server.base_url, tmp_path / "devhost.log"
    ).start()
    try:
        yield host
    finally:
        host.stop()
