"""Snapshot tests of the main screens on a fixed data set (100x30, frozen clock).

The data set is archived through the real pipeline code (prepare + store_record) into
a private Azurite, with fixed ids, provider times and receive times, so every
screen is the same on every machine. The Durable API is a canned transport
(fixed instances); "today" and ages come from the app's injectable clock.

Baselines live in tests/tui/__snapshots__/ (update: `--snapshot-update`). With
WA_TUI_SCREENSHOTS=<dir> the same screens are also exported there as SVG (the
README's docs/screenshots/ are made this way).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from admin.connection import Archive, open_archive
from admin.durable_api import CONTINUATION_HEADER, DurableApi, DurableSettings
from devhost.azurite import Azurite
from tests.admin import seed
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive
from tui.app import ArchiveAdminApp

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

SIZE = (100, 30)
NOW = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)
CUSTOMER = "15550001234"
OTHER = "15550009876"
SNAP_MEDIA = "snap-media-1"
TEXT_ID, IMAGE_ID, OTHER_ID = "wamid.SNAP0001==", "wamid.SNAP0002==", "wamid.SNAP0003=="
RunBefore = Callable[[Pilot[None]], Awaitable[None]]
SnapCompare = Callable[..., bool]


def at(hour: int, minute: int) -> datetime:
    return NOW.replace(hour=hour, minute=minute)


def archive_fixed(doc: dict[str, Any] | bytes, received: datetime, **kwargs: Any) -> None:
    body = doc if isinstance(doc, bytes) else webhooks.body_of(doc)
    seed.archive_envelope(meta_envelope(body, received), **kwargs)


def ts(hour: int, minute: int) -> int:
    return int(at(hour, minute).timestamp())


def seed_fixed_data_set() -> None:
    archive_fixed(webhooks.text_message(TEXT_ID, CUSTOMER, ts(9, 0)),
                  at(9, 0) + timedelta(seconds=2))
    archive_fixed(webhooks.image_message(IMAGE_ID, CUSTOMER, ts(9, 5), SNAP_MEDIA),
                  at(9, 5) + timedelta(seconds=2), media_error="media URL expired (HTTP 404)")
    for value, minute in (("sent", 1), ("delivered", 2), ("read", 7)):
        archive_fixed(webhooks.status(TEXT_ID, CUSTOMER, value, ts(9, minute)),
                      at(9, minute) + timedelta(seconds=3))
    archive_fixed(webhooks.text_message(OTHER_ID, OTHER, ts(10, 15)), at(10, 15))
    archive_fixed(b"<html>not a webhook</html>", at(11, 0))


class FixedDurable:
    """A canned Durable HTTP API: fixed counts per status, one Failed instance."""

    COUNTS = {"Running": 1, "Pending": 0, "Completed": 14, "Failed": 1, "Terminated": 0}

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes | None
                 ) -> tuple[int, dict[str, str], bytes]:
        statuses = parse_qs(urlsplit(url).query).get("runtimeStatus", [""])[0].split(",")
        rows: list[dict[str, Any]] = [
            {"instanceId": f"{status.lower()}-{i:03d}", "name": "archive_event",
             "runtimeStatus": status, "createdTime": "2025-07-01T08:00:00Z",
             "lastUpdatedTime": "2025-07-01T08:00:09Z",
             "output": "Orchestrator function 'archive_event' failed: Activity function "
                       "'store_record' failed: ServiceResponseError: connection reset"}
            for status in statuses
            for i in range(self.COUNTS.get(status, 0))
        ]
        return 200, {CONTINUATION_HEADER: "null"}, json.dumps(rows).encode()


@pytest.fixture(scope="module")
def fixed_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    azurite = Azurite(tmp_path_factory.mktemp("tui-snapshots"))
    azurite.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            use_archive(patch, azurite.connection_string)
            seed_fixed_data_set()
        yield azurite.connection_string
    finally:
        azurite.stop()


@pytest.fixture
def app(fixed_azurite: str, monkeypatch: pytest.MonkeyPatch) -> ArchiveAdminApp:
    use_archive(monkeypatch, fixed_azurite)
    archive: Archive = open_archive()
    durable = DurableApi(DurableSettings("http://durable.invalid/api", None, "test"),
                         FixedDurable())
    return ArchiveAdminApp(archive, refresh_seconds=3600, durable=durable, clock=lambda: NOW)


BUSY = ("loading...", "searching...")


async def settle(pilot: Pilot[None]) -> None:
    """Until the workers are done and the screen's status line shows their outcome."""
    for _ in range(200):  # bounded: a slow, shared machine only makes this loop longer
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        status = pilot.app.screen.query("#status")
        if not status or str(status.first(Static).content) not in BUSY:
            break
    await pilot.pause()


def exporting(name: str, steps: RunBefore) -> RunBefore:
    async def run(pilot: Pilot[None]) -> None:
        await steps(pilot)
        await settle(pilot)
        folder = os.environ.get("WA_TUI_SCREENSHOTS")
        if folder:
            os.makedirs(folder, exist_ok=True)
            pilot.app.save_screenshot(f"{name}.svg", path=folder)

    return run


async def dashboard(pilot: Pilot[None]) -> None:
    await settle(pilot)


async def failures(pilot: Pilot[None]) -> None:
    await pilot.press("f")


async def search(pilot: Pilot[None]) -> None:
    await pilot.press("s")
    await settle(pilot)
    pilot.app.screen.query_one("#participant", Input).value = CUSTOMER
    pilot.app.screen.query_one("#participant", Input).focus()
    await pilot.press("enter")


async def detail(pilot: Pilot[None]) -> None:
    await search(pilot)
    await settle(pilot)
    table = pilot.app.screen.query_one("#results", DataTable)
    table.move_cursor(row=0)  # newest first: the image with the media gap
    await pilot.press("enter")


async def help_screen(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("question_mark")


def test_dashboard(app: ArchiveAdminApp, snap_compare: SnapCompare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=exporting("dashboard", dashboard))


def test_failures(app: ArchiveAdminApp, snap_compare: SnapCompare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=exporting("failures", failures))


def test_search_results(app: ArchiveAdminApp, snap_compare: SnapCompare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=exporting("search", search))


def test_detail(app: ArchiveAdminApp, snap_compare: SnapCompare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=exporting("detail", detail))


def test_help(app: ArchiveAdminApp, snap_compare: SnapCompare) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=exporting("help", help_screen))
