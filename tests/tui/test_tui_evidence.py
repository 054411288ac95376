"""The Evidence screen at 80x24: seals by day with their signature status, on a private Azurite.

The archive is sealed through the real sealing code (admin.evidence.seal_one_day) with a
P-256 key file, as `wa-archive dev` configures it; the seal chain is archive-wide, so
this test owns its Azurite instead of sharing the session one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from admin.connection import Archive, open_archive
from admin.evidence import seal_one_day
from archive.names import SETTING_MANIFEST_KEY_ID
from devhost.azurite import Azurite
from tests.admin import seed
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive
from tests.tui.test_tui_app import SIZE, column, settle, shown_value
from tui.app import ArchiveAdminApp
from tui.widgets.facts import Facts

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

DAY = date(2025, 7, 1)


def key_file(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return path


@pytest.fixture
def sealed(fresh_azurite: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
           ) -> Iterator[Archive]:
    use_archive(monkeypatch, fresh_azurite.connection_string)
    monkeypatch.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key_file(tmp_path / 'seal.pem')}")
    archive = open_archive()
    received = datetime(2025, 7, 1, 12, tzinfo=UTC)
    ts = int(received.timestamp())
    seed.archive_envelope(meta_envelope(webhooks.body_of(
        webhooks.text_message(seed.new_wamid(), seed.new_customer(), ts)), received))
    seal_one_day(archive, DAY)
    yield archive


async def test_evidence_lists_the_seal_with_a_verified_signature(sealed: Archive) -> None:
    app = ArchiveAdminApp(sealed, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        assert column(app, "#seals", "day") == [DAY.isoformat()]
        assert column(app, "#seals", "kind") == ["primary"]
        assert column(app, "#seals", "signature") == ["ok"]
        assert int(column(app, "#seals", "leaves")[0]) >= 2  # the raw body and its record
        strip = app.screen.query_one("#strip", Facts)
        root = shown_value(strip, "root")
        assert len(root) == 64 and int(root, 16) >= 0  # shown whole, not elided
        assert "raw 1" in shown_value(strip, "counts", " ")
        assert "no verification run yet" in shown_value(strip, "verification", " ")


async def test_a_seal_the_configured_key_did_not_sign_shows_invalid(
    sealed: Archive, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key_file(tmp_path / 'other.pem')}")
    app = ArchiveAdminApp(sealed, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        assert column(app, "#seals", "signature") == ["INVALID"]
