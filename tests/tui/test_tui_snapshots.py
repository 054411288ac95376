"""Snapshot tests of the main screens at 80x24 and 120x40 on a fixed, realistic data set.

The data set is archived through the real pipeline code (prepare + store_record, the
worker's quarantine) into a private Azurite, with fixed ids, provider times and
receive times, so every screen is the same on every machine. Its values are the long
ones real archives hold: base64 wamids with `/ + =`, a group id, a BSUID, 300-character
failure reasons, right-to-left and emoji text. The Durable API is a canned transport
(fixed instances); "today" and ages come from the app's injectable clock.

Baselines live in tests/tui/__snapshots__/ (update: `--snapshot-update`). With
WA_TUI_SCREENSHOTS=<dir> the 80x24 screens are also exported there as SVG (the
README's docs/screenshots/ are made this way).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from admin.audit import AuditEntry, recent_entries, record_action
from admin.connection import Archive, open_archive
from admin.durable_api import CONTINUATION_HEADER, DurableApi, DurableSettings
from archive.custody import CustodyError
from archive.identity import event_instance_id
from devhost.azurite import Azurite
from ingest.worker import prepare
from storage.clients import blob_service, table_service
from storage.envelope import encode
from storage.quarantine import quarantine
from tests.admin import seed
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive
from tui.app import ArchiveAdminApp
from tui.screens import audit as audit_screen
from tui.screens.search import SearchScreen

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
EXPORTED = "80x24"  # the README's screenshots
NOW = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)
BUSINESS = webhooks.PHONE_NUMBER_ID
CUSTOMER = "447700900123"
BSUID = "US.13491208655302741918"
GROUP = "120363041234567890@g.us"
MEMBER = "16315551181"
SNAP_MEDIA = "1037543291543636"
# Base64 wamids as Meta sends them: `/ + =` included.
TEXT_ID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0VCMDRGQjc5/+Q0NkE2RDdCRTcA"
IMAGE_ID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgWM0VCMEE4+RDE1QkY4MzY0QzFBNTI="
BSUID_ID = "wamid.HBgXVVMuMTM0OTEyMDg2NTUzMDI3NDE5MTgVAgASGBQz/QUE3RjlCRA=="
GROUP_ID = "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUUxRDc4N0I4QjQwRkRBMEVCQQA="
RTL_TEXT = "مرحبا، أريد تأكيد الطلب رقم 4471 🙏📈 שלום, תודה רבה 👍🏽"
MEDIA_REASON = (
    "media URL expired (HTTP 404) after 5 attempts: GET https://lookaside.fbsbx.com/"
    "whatsapp_business/attachments/?mid=1037543291543636&ext=1751361000&hash=ATsD2x"
    " answered {\"error\":{\"message\":\"(#131052) Media download error: the media was "
    "deleted from the provider after its retention window\",\"type\":\"OAuthException\""
    ",\"code\":131052}} and re-resolving the id returned the same expired URL"
)
ORCHESTRATION_REASON = (
    "Orchestrator function 'archive_event' failed: Activity function 'store_record' "
    "failed: ServiceResponseError: ('Connection aborted.', ConnectionResetError(104, "
    "'Connection reset by peer')) while creating records/year=2025/month=07/day=01/"
    "meta/106540352242922~~447700900123/... after 5 attempts with RetryOptions(first="
    "5s, max=5); the instance can be restarted"
)
assert len(MEDIA_REASON) >= 300 and len(ORCHESTRATION_REASON) >= 300
RunBefore = Callable[[Pilot[None]], Awaitable[None]]
SnapCompare = Callable[..., bool]
INSTANCES: list[str] = []  # filled by the seeding: real instance ids of seeded events


def at(hour: int, minute: int) -> datetime:
    return NOW.replace(hour=hour, minute=minute)


def ts(hour: int, minute: int) -> int:
    return int(at(hour, minute).timestamp())


def archive_fixed(doc: dict[str, Any] | bytes, received: datetime, **kwargs: Any) -> None:
    body = doc if isinstance(doc, bytes) else webhooks.body_of(doc)
    seed.archive_envelope(meta_envelope(body, received), **kwargs)


def message(wamid: str, ts_: int, fields: dict[str, Any], contact: dict[str, Any],
            **extra: Any) -> dict[str, Any]:
    return webhooks.envelope({
        "contacts": [contact],
        "messages": [{"id": wamid, "timestamp": str(ts_), **fields, **extra}],
    })


def quarantined_fixed(doc: dict[str, Any], received: datetime) -> None:
    """A body signed with a secret the app never had: the worker's custody check quarantines it."""
    envelope = meta_envelope(webhooks.body_of(doc), received, secret="a-secret-this-app-never-had")
    with pytest.raises(CustodyError) as failed:
        prepare(envelope)
    quarantine(blob_service(), table_service(), encode(envelope, inline=True).encode(),
               reason=failed.value.reason, origin="ingest-queue", at=received,
               detail={"claimed_sha256": envelope.sha256, "source": envelope.source})


def seed_fixed_data_set() -> None:
    client = {"profile": {"name": "ليلى حداد"}, "wa_id": CUSTOMER}
    text = message(TEXT_ID, ts(9, 0), {"from": CUSTOMER, "type": "text",
                                       "text": {"body": "Please confirm order 4471 ✅"}},
                   client)
    archive_fixed(text, at(9, 0) + timedelta(seconds=2))
    INSTANCES.append(event_instance_id(
        prepare(meta_envelope(webhooks.body_of(text), at(9, 0))).events[0]))
    # The detail snapshot's message: right-to-left and emoji caption, a media gap whose
    # reason the pipeline keeps to 300 characters, and statuses out of arrival order.
    image = {"id": SNAP_MEDIA, "mime_type": "image/jpeg", "caption": RTL_TEXT}
    archive_fixed(message(IMAGE_ID, ts(9, 5), {"from": CUSTOMER, "type": "image",
                                               "image": image}, client),
                  at(9, 5) + timedelta(seconds=2), media_error=MEDIA_REASON)
    for value, minute in (("read", 9), ("sent", 6), ("delivered", 7)):
        archive_fixed(webhooks.status(IMAGE_ID, CUSTOMER, value, ts(9, minute)),
                      at(9, 9) + timedelta(seconds=minute))
    archive_fixed(message(BSUID_ID, ts(10, 15), {"from_user_id": BSUID, "type": "text",
                                                 "text": {"body": "hi from a username"}},
                          {"profile": {"name": "Ana"}, "user_id": BSUID}), at(10, 15))
    archive_fixed(message(GROUP_ID, ts(11, 20), {"from": MEMBER, "type": "text",
                                                 "text": {"body": "hello team 👋"}},
                          {"profile": {"name": "Kerry Fisher"}, "wa_id": MEMBER},
                          group_id=GROUP), at(11, 20))
    archive_fixed(b"<html>502 Bad Gateway</html>", at(11, 40))
    quarantined_fixed(webhooks.text_message(TEXT_ID, CUSTOMER, ts(11, 50)), at(11, 50))


def seed_audit_entries(archive: Archive) -> None:
    """What admins did today, written by the audit code with fixed clocks and names."""
    who = "alice.compliance@contoso-securities.com (oid 8c1f2e4d-77a0-4b1e-9d3c-5e2f1a0b6c7d)"
    entries = (
        (at(11, 58), "search", {"query": {"participant": BUSINESS}}, "ok: 5 row(s)"),
        (at(12, 2), "show", {"message_id": TEXT_ID}, "ok"),
        (at(12, 10), "replay", {"ids": [f"media_unavailable:2025-07-01-{'9c1d' * 8}"]},
         "error: media gap media_unavailable:2025-07-01-9c1d... is already resolved"),
    )
    for when, action, target, result in entries:
        intent = record_action(archive, action, target, "started", when=when, actor=who,
                               phase="intent")
        record_action(archive, action, target, result, when=when + timedelta(seconds=1),
                      actor=who, phase="outcome", intent=intent)


class FixedDurable:
    """A canned Durable HTTP API: fixed counts per status, one Failed instance."""

    COUNTS = {"Running": 1, "Pending": 0, "Completed": 14, "Failed": 1, "Terminated": 0}

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes | None
                 ) -> tuple[int, dict[str, str], bytes]:
        statuses = parse_qs(urlsplit(url).query).get("runtimeStatus", [""])[0].split(",")
        rows: list[dict[str, Any]] = [
            {"instanceId": INSTANCES[0] if status == "Failed" else f"{status.lower()}-{i:03d}",
             "name": "archive_event", "runtimeStatus": status,
             "createdTime": "2025-07-01T09:00:02Z", "lastUpdatedTime": "2025-07-01T09:00:41Z",
             "output": ORCHESTRATION_REASON}
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
            seed_audit_entries(open_archive())
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


def exporting(name: str, size: str, steps: RunBefore) -> RunBefore:
    async def run(pilot: Pilot[None]) -> None:
        await steps(pilot)
        await settle(pilot)
        folder = os.environ.get("WA_TUI_SCREENSHOTS")
        if folder and size == EXPORTED:
            os.makedirs(folder, exist_ok=True)
            pilot.app.save_screenshot(f"{name}.svg", path=folder)

    return run


async def dashboard(pilot: Pilot[None]) -> None:
    await settle(pilot)


async def failures(pilot: Pilot[None]) -> None:
    await pilot.press("f")
    await settle(pilot)
    pilot.app.screen.query_one("#failures", DataTable).focus()
    await pilot.press("down")  # the media gap: its 300-character reason in the strip


async def search(pilot: Pilot[None]) -> None:
    await pilot.press("s")
    await settle(pilot)
    pilot.app.screen.query_one("#participant", Input).value = BUSINESS
    pilot.app.screen.query_one("#participant", Input).focus()
    await pilot.press("enter")


async def detail(pilot: Pilot[None]) -> None:
    await search(pilot)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    row = [r["message_id"] for r in screen.rows].index(IMAGE_ID)
    screen.query_one("#results", DataTable).move_cursor(row=row)
    await pilot.press("enter")


async def audit(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("a")


async def help_screen(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("question_mark")


@pytest.fixture
def pinned_audit_service_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azurite stamps an entry's creation time from the machine's clock; pin it to 1.5 s
    after the entry's `when`, so the audit snapshot is the same on every machine. (The
    real service time is checked by tests/tui/test_tui_app.py.)"""

    def entries(archive: Archive, **kwargs: Any) -> list[AuditEntry]:
        found = recent_entries(archive, **kwargs)
        assert found and all(e.service_time is not None for e in found)
        return [
            replace(e, service_time=datetime.fromisoformat(str(e.entry["when"]))
                    + timedelta(seconds=1.5))
            for e in found
        ]

    monkeypatch.setattr(audit_screen, "recent_entries", entries)


@pytest.mark.parametrize("size", SIZES)
def test_dashboard(app: ArchiveAdminApp, snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(app, terminal_size=SIZES[size],
                        run_before=exporting("dashboard", size, dashboard))


@pytest.mark.parametrize("size", SIZES)
def test_failures(app: ArchiveAdminApp, snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(app, terminal_size=SIZES[size],
                        run_before=exporting("failures", size, failures))


@pytest.mark.parametrize("size", SIZES)
def test_search_results(app: ArchiveAdminApp, snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(app, terminal_size=SIZES[size],
                        run_before=exporting("search", size, search))


@pytest.mark.parametrize("size", SIZES)
def test_detail(app: ArchiveAdminApp, snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(app, terminal_size=SIZES[size],
                        run_before=exporting("detail", size, detail))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.usefixtures("pinned_audit_service_time")
def test_audit(app: ArchiveAdminApp, snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(app, terminal_size=SIZES[size],
                        run_before=exporting("audit", size, audit))


def test_help(app: ArchiveAdminApp, snap_compare: SnapCompare) -> None:
    assert snap_compare(app, terminal_size=SIZES["80x24"],
                        run_before=exporting("help", EXPORTED, help_screen))
