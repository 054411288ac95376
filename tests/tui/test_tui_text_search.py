"""The search screen's text input (keyword search) driven by Textual's pilot, on real Azurite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

import tui.screens.search as search_screen
from admin.audit import recent_entries
from admin.connection import Archive
from admin.text_search import TextPage, TextProgress
from tests.admin import seed
from tests.support import webhooks
from tui.app import ArchiveAdminApp
from tui.screens.search import SearchScreen, page_summary, progress_line
from tui.widgets.facts import Facts

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

SIZE = (80, 24)
# A day in the past: on or before the term index's marker day, so it is scanned.
T0 = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)


def ts(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp())


async def settle(app: ArchiveAdminApp, pilot: Pilot[None]) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def status_text(app: ArchiveAdminApp) -> str:
    return str(app.screen.query_one("#status", Static).content)


async def test_text_search_scans_with_progress_and_scopes_by_participant(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    word = "kw" + uuid.uuid4().hex[:10]
    alice, bob = seed.new_customer(), seed.new_customer()
    mine = [seed.new_wamid() for _ in range(2)]
    other = seed.new_wamid()
    seed.archive_body(webhooks.text_message(mine[0], alice, ts(0), f"the {word} deal is OFF"))
    seed.archive_body(webhooks.text_message(mine[1], alice, ts(5), f"{word.upper()} deal, off"))
    seed.archive_body(webhooks.text_message(other, bob, ts(10), f"{word} deal is off"))
    shown: list[str] = []
    real = search_screen.progress_line

    def spy(p: TextProgress) -> str:
        shown.append(real(p))
        return real(p)

    monkeypatch.setattr(search_screen, "progress_line", spy)
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        day = T0.strftime("%Y-%m-%d")
        screen.query_one("#text", Input).value = f"{word} deal"
        screen.query_one("#start", Input).value = day
        screen.query_one("#end", Input).value = day
        screen.query_one("#text", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert [r["message_id"] for r in screen.rows] == [other, mine[1], mine[0]]
        assert "text: 0 day(s) indexed, 1 scanned" in status_text(app)
        assert shown and all(day in line and word not in line for line in shown)
        assert ("found in", "content.text") in screen.query_one("#strip", Facts).pairs

        screen.query_one("#participant", Input).value = alice
        screen.query_one("#text", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert [r["message_id"] for r in screen.rows] == [mine[1], mine[0]]

        # Facets a text search does not take: a clear error, nothing searched.
        screen.query_one("#provider", Select).value = "meta"
        screen.query_one("#text", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "combines with participant and dates only, not provider" in status_text(app)

    texts = [e.entry for e in recent_entries(archive)
             if e.entry.get("action") == "search_text" and e.entry.get("phase") == "outcome"]
    assert texts[0]["target"]["query"]["participant"] == alice


def test_summaries() -> None:
    page = TextPage(rows=[{}], continuation="t", days_indexed=2, days_scanned=1)
    assert page_summary(page) == "1 row(s), text: 2 day(s) indexed, 1 scanned, more: Ctrl+N"
    assert progress_line(TextProgress("2025-05-20", 3, 9, 0, 2)) == (
        "scanning 2025-05-20 (day 1/2): 3/9 record(s) read...")
