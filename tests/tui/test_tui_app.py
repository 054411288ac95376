"""The admin TUI driven by Textual's pilot at 80x24, on real Azurite seeded by the pipeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

from admin.audit import recent_entries
from admin.backlog import backlog
from admin.connection import Archive
from admin.detail import message_detail
from admin.poison import peek_poison
from archive.names import INGEST_QUEUE
from storage.clients import queue_client
from tests.admin import seed
from tests.support import webhooks
from tui.app import ArchiveAdminApp
from tui.screens.detail import DetailScreen
from tui.screens.dialogs import TextScreen
from tui.screens.failures import FailuresScreen
from tui.screens.help import HelpScreen
from tui.screens.search import SearchScreen
from tui.widgets.facts import Facts

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

SIZE = (80, 24)
T0 = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def ts(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp())


async def settle(app: ArchiveAdminApp, pilot: Pilot[None]) -> None:
    """Let workers finish and their results reach the UI thread."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def text_of(app: ArchiveAdminApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def table_rows(app: ArchiveAdminApp, selector: str) -> list[list[str]]:
    table = app.screen.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def column(app: ArchiveAdminApp, selector: str, key: str) -> list[str]:
    """One column's cells as shown (columns that do not fit are not in the table)."""
    table = app.screen.query_one(selector, DataTable)
    index = [c.key.value for c in table.ordered_columns].index(key)
    return [row[index] for row in table_rows(app, selector)]


def shown_value(strip: Facts, label: str, sep: str = "") -> str:
    """A label's value as the strip draws it on screen, its wrapped lines joined by `sep`
    ("" for an id folded anywhere, " " for text wrapped at its spaces)."""
    lines = [strip.render_line(y).text for y in range(strip.size.height)]
    width = max(len(name) for name, _ in strip.pairs)
    value: list[str] = []
    for line in lines:
        name = line[1:1 + width].strip()
        if value and name:
            break  # the next label
        if name == label or (value and not name):
            value.append(line[2 + width:].rstrip())
    return sep.join(value)


async def test_dashboard_shows_backlog_records_and_failures(archive: Archive) -> None:
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        before_records = text_of(app, "#records")
        before_unparseable = text_of(app, "#unparseable")

        seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(), ts(0)))
        for _ in range(2):
            queue_client(INGEST_QUEUE).send_message("{}")
        now = int(datetime.now(UTC).timestamp())
        seed.archive_body(webhooks.text_message(seed.new_wamid(), seed.new_customer(), now))
        seed.archive_body(b"<html>not a webhook</html>")

        await pilot.press("r")
        await settle(app, pilot)
        assert text_of(app, "#ingest").endswith("~2[/]")
        assert text_of(app, "#poison").endswith("1[/]")
        assert text_of(app, "#records") != before_records
        assert text_of(app, "#unparseable") != before_unparseable
        assert text_of(app, "#status") == "up to date"


async def test_replay_from_failures_screen_ends_archived(archive: Archive) -> None:
    wamid = seed.new_wamid()
    customer = seed.new_customer()
    seed.poison(webhooks.text_message(wamid, customer, ts(5)))
    (poisoned,) = peek_poison(archive)
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await settle(app, pilot)
        assert table_rows(app, "#failures")[0][0] == "poison"

        app.screen.query_one("#failures", DataTable).focus()
        await pilot.press("enter")  # open the payload, pretty-printed
        await settle(app, pilot)
        assert isinstance(app.screen, TextScreen)
        payload = str(app.screen.query_one("#text", Static).content)
        assert f'"id": "{wamid}"' in payload
        await pilot.press("escape")

        await pilot.press("r")  # asks first
        await pilot.press("n")
        await settle(app, pilot)
        assert len(peek_poison(archive)) == 1

        await pilot.press("r")
        await pilot.press("y")
        await settle(app, pilot)
        assert peek_poison(archive) == []
        assert backlog(archive).ingest_depth == 1
        assert all(row[0] != "poison" for row in table_rows(app, "#failures"))

    assert seed.run_ingest_worker() == 1
    detail = message_detail(archive, wamid)
    assert detail.record is not None and detail.record["from"] == customer
    entries = [e.entry for e in recent_entries(archive)]
    replays = [e for e in entries if e["action"] == "replay" and e.get("phase") == "outcome"]
    assert replays[0]["target"]["replayed"] == [poisoned.message_id]
    views = [e for e in entries if e["action"] == "view_payload"]
    items = [e for e in entries if e["action"] == "replay_item"]
    assert items[0]["target"] == {"kind": "poison", "id": poisoned.message_id}
    assert views[0]["target"] == {"poison_message_id": poisoned.message_id}


async def test_search_by_participant_and_date_range_then_open_detail(archive: Archive) -> None:
    customer = seed.new_customer()
    wamids = [seed.new_wamid() for _ in range(4)]
    for minute, wamid in enumerate(wamids):
        seed.archive_body(webhooks.text_message(wamid, customer, ts(minute * 60)))
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await settle(app, pilot)
        app.screen.query_one("#participant", Input).value = customer
        day = T0.strftime("%Y-%m-%d")
        app.screen.query_one("#start", Input).value = f"{day}T12:30:00Z"
        app.screen.query_one("#end", Input).value = f"{day}T15:00:00Z"
        app.screen.query_one("#participant", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SearchScreen)
        assert [r["message_id"] for r in app.screen.rows] == [wamids[3], wamids[2], wamids[1]]
        # At 80 columns the ids are elided in the middle; the strip shows the selected one.
        shown = column(app, "#results", "message_id")
        assert all(s[:6] == w[:6] and s[-4:] == w[-4:] for s, w in zip(
            shown, (wamids[3], wamids[2], wamids[1]), strict=True))
        assert column(app, "#results", "direction") == ["inbound"] * 3
        assert ("message", wamids[3]) in app.screen.query_one("#strip", Facts).pairs

        await pilot.press("enter")  # the first (newest) row
        await settle(app, pilot)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.message_id == wamids[3]

    actions = [e.entry for e in recent_entries(archive)
               if e.entry.get("phase") == "outcome"][:2]
    assert [a["action"] for a in actions] == ["show", "search"]
    assert actions[1]["target"]["query"]["participant"] == customer
    assert actions[0]["target"] == {"message_id": wamids[3]}


async def test_search_filters_by_provider(archive: Archive) -> None:
    customer = seed.new_customer()
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.text_message(wamid, customer, ts(0)))
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        screen.query_one("#participant", Input).value = customer
        found = {}
        for provider in ("meta", "twilio"):
            screen.query_one("#provider", Select).value = provider
            screen.query_one("#participant", Input).focus()
            await pilot.press("enter")
            await settle(app, pilot)
            found[provider] = [r["message_id"] for r in screen.rows]
    assert found == {"meta": [wamid], "twilio": []}


async def test_detail_timeline_follows_provider_time(archive: Archive) -> None:
    customer = seed.new_customer()
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.text_message(wamid, customer, ts(0)))
    for value, minute in (("read", 3), ("delivered", 2), ("sent", 1)):
        seed.archive_body(webhooks.status(wamid, customer, value, ts(minute)))
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(DetailScreen(wamid))
        await settle(app, pilot)
        assert [r[1] for r in table_rows(app, "#timeline")] == ["sent", "delivered", "read"]
        assert ("latest status", "read") in app.screen.query_one("#summary", Facts).pairs


async def test_audit_screen_help_and_palette(archive: Archive) -> None:
    seed.archive_body(webhooks.text_message(wamid := seed.new_wamid(), seed.new_customer(), ts(9)))
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(DetailScreen(wamid))
        await settle(app, pilot)
        await pilot.press("escape")
        await pilot.press("a")
        await settle(app, pilot)
        assert column(app, "#audit", "action")[0] == "show"
        target = dict(app.screen.query_one("#strip", Facts).pairs)["target"]
        assert wamid in target  # whole in the strip, elided in the table
        assert column(app, "#audit", "stored")[0] != "-"  # the service's time beside the client's

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await pilot.press(*"failures")
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.current_mode == "failures"


async def test_failure_strip_shows_the_whole_reference_at_80x24(archive: Archive) -> None:
    """At 80x24 the table elides the reference; the strip below shows all of it."""
    wamid = f"wamid.HBgL{uuid.uuid4().hex}/+{uuid.uuid4().hex[:8]}=="
    media_id = f"{uuid.uuid4().int % 10**16:016d}"
    reason = ("media URL expired (HTTP 404): " + "the provider no longer holds it; " * 12)[:300]
    (path,) = seed.archive_body(
        webhooks.image_message(wamid, seed.new_customer(), ts(30), media_id),
        media_error=reason,
    )
    ref = f"{path}#{media_id}"
    assert len(ref) > SIZE[0]
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        index = [item.ref for item in screen.items].index(ref)
        screen.query_one("#failures", DataTable).focus()
        await pilot.press("home", *["down"] * index)
        await pilot.pause()
        row = table_rows(app, "#failures")[index]
        day = screen.items[index].day
        assert row[0] == "media gap" and row[1] == day  # kind and day whole
        assert "…" in row[2] and row[2] != ref and row[3].startswith("media URL expired")
        strip = screen.query_one("#strip", Facts)
        assert shown_value(strip, "reference") == ref
        assert shown_value(strip, "reason", " ").split() == reason.split()

        await pilot.press("enter")  # Enter still opens the entry
        await settle(app, pilot)
        assert isinstance(app.screen, TextScreen)
        assert ref in str(app.screen.query_one("#text", Static).content)
