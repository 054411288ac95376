"""The Holds screen at 80x24 on Azurite: place a hold through the form (with confirmation),
see it listed, release it (with confirmation); a declined confirmation changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from textual.widgets import Input

from admin.connection import Archive, open_archive
from storage.holds import HoldStore, reset_shared_cache
from tests.admin import seed
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive
from tests.tui.test_tui_app import SIZE, T0, column, settle, shown_value, ts
from tui.app import ArchiveAdminApp
from tui.widgets.facts import Facts

pytestmark = [pytest.mark.tui, pytest.mark.azurite]


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> Iterator[Archive]:
    use_archive(monkeypatch, azurite_conn)
    reset_shared_cache()
    yield open_archive()
    reset_shared_cache()


async def test_place_and_release_a_hold_with_confirmation(archive: Archive) -> None:
    customer = seed.new_customer()
    seed.archive_envelope(meta_envelope(webhooks.body_of(
        webhooks.text_message(seed.new_wamid(), customer, ts(1))), T0))
    matter = f"TUI-{uuid.uuid4().hex[:8]}"
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    app.hold_settle = timedelta(0)  # type: ignore[attr-defined]
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        await settle(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        for name, value in (("matter", matter), ("reason", "SEC subpoena 12"),
                            ("participant", customer)):
            app.screen.query_one(f"#hold-{name}", Input).value = value
        app.screen.query_one("#hold-reason", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("n")  # declined: nothing placed
        await settle(app, pilot)
        assert HoldStore(archive.tables).get(matter) is None

        await pilot.press("p")
        await pilot.pause()
        for name, value in (("matter", matter), ("reason", "SEC subpoena 12"),
                            ("participant", customer)):
            app.screen.query_one(f"#hold-{name}", Input).value = value
        app.screen.query_one("#hold-reason", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        placed = HoldStore(archive.tables).row(matter)
        assert placed is not None and placed.matter.state == "active"
        assert placed.progress.records_done == 1
        assert matter in column(app, "#holds", "matter")
        index = column(app, "#holds", "matter").index(matter)
        assert column(app, "#holds", "state")[index] == "active"

        app.screen.query_one("#holds").move_cursor(row=index)  # type: ignore[attr-defined]
        await pilot.pause()
        strip = app.screen.query_one("#strip", Facts)
        assert customer in shown_value(strip, "scope")
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        released = HoldStore(archive.tables).get(matter)
        assert released is not None and released.state == "released"
        assert released.released_by


async def test_the_form_refuses_a_scope_with_two_selectors(archive: Archive) -> None:
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        await settle(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        for name, value in (("matter", "TUI-bad"), ("reason", "x"), ("participant", "1"),
                            ("message_id", "wamid.x")):
            app.screen.query_one(f"#hold-{name}", Input).value = value
        app.screen.query_one("#hold-reason", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#form-error").render()  # still on the form
        assert type(app.screen).__name__ == "PlaceHoldScreen"
        assert HoldStore(archive.tables).get("TUI-bad") is None
