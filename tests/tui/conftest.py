from __future__ import annotations

import pytest

from admin.connection import Archive, open_archive
from tests.admin.seed import clear_queues
from tests.support.pipeline_env import use_archive


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> Archive:
    use_archive(monkeypatch, azurite_conn)
    clear_queues()
    return open_archive()
