"""The Review screen at 80x24 on Azurite: open flags listed, a flag opened in its
conversation (the flagged message marked, its matched words lit), marked through the
comment dialog (an empty comment refused, a cancelled one writing nothing), and gone
from the open list afterwards. Plus snapshots of the list and the context on a fixed
data set in a private Azurite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Input, Static

from admin.connection import Archive, open_archive
from archive.flags import flag_entity
from archive.lexicon import Hit
from archive.names import RECORDS_CONTAINER, TABLE_FLAGS
from devhost.azurite import Azurite
from tests.admin import seed
from tests.azurite.test_review import archive_text, decision_blobs, flag, new_day
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive
from tests.tui.test_tui_app import SIZE, settle
from tui.app import ArchiveAdminApp
from tui.screens.review import CommentScreen, FlagScreen, ReviewScreen, context_text

pytestmark = [pytest.mark.tui, pytest.mark.azurite]


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> Iterator[Archive]:
    use_archive(monkeypatch, azurite_conn)
    yield open_archive()


def context_of(app: ArchiveAdminApp) -> Text:
    content = app.screen.query_one("#context", Static).content
    assert isinstance(content, Text)
    return content


async def open_review(app: ArchiveAdminApp, pilot: Pilot[None], fid: str) -> ReviewScreen:
    await settle(app, pilot)
    await pilot.press("v")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, ReviewScreen)
    index = [f.id for f in screen.flags].index(fid)
    screen.query_one("#flags").move_cursor(row=index)  # type: ignore[attr-defined]
    await pilot.pause()
    return screen


async def test_open_a_flag_in_context_and_mark_it_reviewed(archive: Archive) -> None:
    start = new_day()
    customer = seed.new_customer()
    archive_text(customer, start, "Good morning, any news on my account?")
    path, record = archive_text(customer, start + timedelta(minutes=1),
                                "We GUARANTEE you a 10% return, off the record")
    archive_text(customer, start + timedelta(minutes=2), "Sounds great, let's do it")
    fid = flag(archive, path, record, "GUARANTEE", "off the record")
    app = ArchiveAdminApp(archive, refresh_seconds=3600,
                          clock=lambda: start + timedelta(hours=1))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(app, pilot, fid)
        assert screen.selected() is not None and screen.selected_id() == fid
        assert screen.flags[[f.id for f in screen.flags].index(fid)].status == "open"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, FlagScreen)
        context = context_of(app)
        plain = context.plain
        assert plain.index("Good morning") < plain.index("GUARANTEE") < plain.index("Sounds")
        lines = plain.splitlines()
        (marked,) = [n for n, line in enumerate(lines) if line.startswith("▶")]
        assert "GUARANTEE" in lines[marked + 1]  # the flagged message, under its marker
        lit = {plain[s.start:s.end] for s in context.spans if "underline" in str(s.style)}
        assert lit == {"GUARANTEE", "off the record"}

        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, CommentScreen)
        await pilot.press("enter")  # empty: refused, still asking
        await pilot.pause()
        assert isinstance(app.screen, CommentScreen)
        assert "needs a comment" in str(app.screen.query_one("#form-error", Static).content)
        app.screen.query_one("#comment", Input).value = "Checked with the desk: no promise."
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, FlagScreen)
        assert app.screen.flag is not None and app.screen.flag["status"] == "reviewed"
        assert len(decision_blobs(archive, fid)) == 1
        decisions = str(app.screen.query_one("#decisions", Static).content)
        assert "reviewed" in decisions and "Checked with the desk" in decisions

        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert fid not in [f.id for f in app.screen.flags]
        await pilot.press("o", "o")  # open -> escalated -> reviewed
        await settle(app, pilot)
        assert app.screen.filter == "reviewed"
        assert fid in [f.id for f in app.screen.flags]


async def test_a_cancelled_comment_writes_nothing(archive: Archive) -> None:
    start = new_day()
    path, record = archive_text(seed.new_customer(), start, "guaranteed returns")
    fid = flag(archive, path, record, "guaranteed")
    app = ArchiveAdminApp(archive, refresh_seconds=3600, clock=lambda: start)
    async with app.run_test(size=SIZE) as pilot:
        await open_review(app, pilot, fid)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, CommentScreen) and app.screen.status == "escalated"
        app.screen.query_one("#comment", Input).value = "not sure"
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert "cancelled" in str(app.screen.query_one("#status", Static).content)
    assert decision_blobs(archive, fid) == []


# --- snapshots on a fixed data set --------------------------------------------------

NOW = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)
CUSTOMER = "447700900123"
MESSAGES = (
    ("wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0VCMDRGQjc5/+Q0NkE2RDdCRTcA", 0,
     "Hi, is the fund still open for new money?"),
    ("wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0VCMEE4+RDE1QkY4MzY0QzFBNTI=", 3,
     "I was told you guarantee a 12% return. Is that true?"),
    ("wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhgUM0VCMEQzRjM5NEE2QkM1RTY3ODk=", 9,
     "Thanks, I'll read the factsheet first."),
)


@pytest.fixture(scope="module")
def fixed_review_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    azurite = Azurite(tmp_path_factory.mktemp("tui-review"))
    azurite.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            use_archive(patch, azurite.connection_string)
            archive = open_archive()
            for wamid, minute, body in MESSAGES:
                when = datetime(2025, 7, 1, 9, minute, tzinfo=UTC)
                doc = webhooks.text_message(wamid, CUSTOMER, int(when.timestamp()), body)
                (path,) = seed.archive_envelope(meta_envelope(webhooks.body_of(doc),
                                                              when + timedelta(seconds=2)))
                if "guarantee" in body:
                    record = archive.container(RECORDS_CONTAINER).download_blob(path).readall()
                    hit = Hit(rule="guarantee-return", field="content.text", tokens=(5, 10),
                              spans=((13, 22), (29, 35)), matched=("guarantee", "return"))
                    archive.tables.get_table_client(TABLE_FLAGS).upsert_entity(flag_entity(
                        json.loads(record), path, version=1, policy_sha256="ab" * 32,
                        hits={"content.text": [hit]}, source="archive",
                        flagged_at=when + timedelta(seconds=3)))
        yield azurite.connection_string
    finally:
        azurite.stop()


@pytest.fixture
def fixed_app(fixed_review_azurite: str, monkeypatch: pytest.MonkeyPatch) -> ArchiveAdminApp:
    use_archive(monkeypatch, fixed_review_azurite)
    return ArchiveAdminApp(open_archive(), refresh_seconds=3600, clock=lambda: NOW)


async def _listed(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.press("v")
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def _opened(pilot: Pilot[None]) -> None:
    await _listed(pilot)
    await pilot.press("enter")
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def test_review_list_snapshot(fixed_app: ArchiveAdminApp, snap_compare: object) -> None:
    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=_listed)  # type: ignore[operator]


def test_review_context_snapshot(fixed_app: ArchiveAdminApp, snap_compare: object) -> None:
    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=_opened)  # type: ignore[operator]


def test_message_text_is_shown_as_text_never_markup_or_escapes() -> None:
    hostile = "[b red]URGENT[/] \x1b[2J\u202egnp.exe [link=https://evil.example]x[/link]"
    shown = context_text({"hits": [{"matched": ["URGENT"]}], "context": [
        {"flagged": True, "timestamp": "2025-07-01T09:03:00Z", "direction": "inbound",
         "from": "[i]447700900123[/i]", "to": "15550783881", "type": "text",
         "text": hostile}]})
    assert "[b red]URGENT[/]" in shown.plain and "[link=https://evil.example]" in shown.plain
    assert "[i]447700900123[/i]" in shown.plain
    assert "\x1b" not in shown.plain and "\u202e" not in shown.plain
