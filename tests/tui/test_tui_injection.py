"""Provider-controlled text on the failures screen is shown, never interpreted."""

from __future__ import annotations

import uuid

import pytest
from textual.content import Content
from textual.widgets import DataTable, Static

from admin.connection import Archive
from archive.index import failure_entity
from storage.clients import table_service
from storage.index_writer import write_failure
from tui.app import ArchiveAdminApp
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.facts import Facts

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

MARKUP = "[bold red]Really delete everything?[/]"
ANSI = "\x1b[2J"


def shown(widget: Static) -> str:
    """What the widget puts on screen (markup already applied)."""
    visual = widget.visual
    return visual.plain if isinstance(visual, Content) else str(visual)


async def test_markup_and_escapes_in_a_failure_are_shown_literally(archive: Archive) -> None:
    media_id = f"{MARKUP}{ANSI}"
    record = f"rec-{uuid.uuid4().hex[:8]}.json"
    write_failure(table_service(), failure_entity(
        "media_unavailable", day="2999-12-29", ref=f"{record}#{media_id}",
        reason=f"{MARKUP} {ANSI}gone {record[4:12]}",
        detail={"record_path": "rec.json", "media_id": media_id, "message_id": "wamid.x"}))
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        table = app.screen.query_one("#failures", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        (index,) = [i for i, row in enumerate(rows) if record[4:12] in row[3]]
        assert MARKUP in rows[index][3] and "\x1b" not in "".join(rows[index])

        table.focus()
        table.move_cursor(row=index)
        await pilot.pause()
        strip = app.screen.query_one("#strip", Facts)  # the whole reason, as text
        lines = [strip.render_line(y).text for y in range(strip.size.height)]
        assert any(f"reason    {MARKUP}" in line for line in lines)
        assert all("\x1b" not in line for line in lines)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = shown(app.screen.query_one("#question", Static))
        assert MARKUP in question  # the tags are text, not styling
        assert "\x1b" not in question
        assert question.startswith("Fetch the missing media of")
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
