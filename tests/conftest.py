"""Shared fixtures. Azurite is real: started per test session on free ports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from tests.support.media_server import MediaServer


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One real Azurite for the whole session; tests isolate by unique names."""
    emulator = Azurite(tmp_path_factory.mktemp("azurite"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def azurite_conn(azurite: Azurite) -> str:
    return azurite.connection_string


@pytest.fixture
def unique_name() -> str:
    """A short lowercase-alphanumeric suffix, valid in container, queue and table names."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def fresh_azurite(tmp_path: Path) -> Iterator[Azurite]:
    """A private Azurite for tests that stop or kill the emulator."""
    emulator = Azurite(tmp_path / "azurite")
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    """A local stand-in for the Graph API media endpoints (loopback, free port)."""
    server = MediaServer().start()
    try:
        yield server
    finally:
        server.stop()
