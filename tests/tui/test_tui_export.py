"""Export from the Search screen (Ctrl+O): choose the scope, run it in a worker, see the path.

A private Azurite (the test seals a day, and the seal chain is archive-wide), seeded
through the pipeline code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, Select, Static

from admin.connection import Archive, open_archive
from admin.evidence import seal_one_day
from admin.export_verify import verify_export
from archive.names import SETTING_MANIFEST_KEY_ID
from devhost.azurite import Azurite
from storage.signing import generate_key_file
from tests.admin import seed
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive
from tests.tui.test_tui_app import SIZE, settle
from tui.app import ArchiveAdminApp
from tui.screens.export import ExportScreen

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

DAY = date(2025, 7, 1)


@pytest.fixture
def archived(fresh_azurite: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
             ) -> Iterator[tuple[Archive, str]]:
    use_archive(monkeypatch, fresh_azurite.connection_string)
    key = tmp_path / "seal.pem"
    generate_key_file(key)
    monkeypatch.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key}")
    archive = open_archive()
    customer = seed.new_customer()
    received = datetime(2025, 7, 1, 12, tzinfo=UTC)
    for minute, text in enumerate(("first", "second")):
        seed.archive_envelope(meta_envelope(webhooks.body_of(webhooks.text_message(
            seed.new_wamid(), customer, int(received.timestamp()) + 60 * minute, text)),
            received))
    seal_one_day(archive, DAY)
    yield archive, customer


async def test_export_the_searched_participant_from_the_search_screen(
        archived: tuple[Archive, str], tmp_path: Path) -> None:
    archive, customer = archived
    out = tmp_path / "from-tui.zip"
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        app.screen.query_one("#participant", Input).value = customer
        app.screen.query_one("#start", Input).value = DAY.isoformat()
        app.screen.query_one("#end", Input).value = DAY.isoformat()
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        labels = [label for label, _ in screen.choices]
        assert labels[0] == f"participant {customer}"
        assert any(label.startswith("conversation ") for label in labels)  # the row's
        assert screen.query_one("#scope", Select).value == 0
        screen.query_one("#fmt-html", Checkbox).value = True
        screen.query_one("#tz", Input).value = "Europe/London"
        screen.query_one("#out", Input).value = str(out)
        screen.query_one("#start", Button).press()
        await settle(app, pilot)
        await pilot.pause()
        await settle(app, pilot)
        status = str(screen.query_one("#export-status", Static).content)
        assert "done:" in status and str(out) in status, status
        assert screen.result is not None and screen.result.counts["records"] == 2
    check = verify_export(out)  # the bundled key: this archive's own
    assert check.ok, check.findings
    import zipfile

    with zipfile.ZipFile(out) as packed:
        manifest = json.loads(packed.read("manifest.json"))
        assert any(n.startswith("transcripts/") and n.endswith(".html")
                   for n in packed.namelist())
    assert manifest["query"]["scope"] == {"participant": customer, "start": DAY.isoformat(),
                                          "end": DAY.isoformat()}
    assert manifest["time_zone"] == "Europe/London"


async def test_export_needs_a_scope_and_shows_errors(archived: tuple[Archive, str],
                                                     tmp_path: Path) -> None:
    archive, _ = archived
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ExportScreen) and screen.choices == []
        screen.start()
        await pilot.pause()
        assert "search by participant" in str(screen.query_one("#export-status",
                                                                Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
