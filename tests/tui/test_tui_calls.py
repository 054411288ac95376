"""Calls in the admin tools (issue #19): the TUI call timeline, `show`, search by type, and
records of `field:calls` written before calls were first-class, on real Azurite."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from admin.connection import Archive
from admin.detail import message_detail
from admin.search import SearchQuery, search
from archive.layout import record_blob_name
from archive.meta.parser import parse_webhook
from archive.names import RECORDS_CONTAINER
from archive.record import RawRef, build_record, record_bytes
from cli.main import main
from storage.blobs import write_record
from storage.clients import blob_service, table_service
from storage.index_writer import update_latest_status, write_index_rows
from tests.admin import seed
from tui.app import ArchiveAdminApp
from tui.screens.detail import DetailScreen
from tui.widgets.facts import Facts

pytestmark = [pytest.mark.tui, pytest.mark.azurite]

SIZE = (80, 24)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
FIXTURE_CUSTOMER = "16315551181"
BIZ_CALL = json.loads((FIXTURES / "calls_business_initiated.json").read_text())[
    "entry"][0]["changes"][0]["value"]["calls"][0]["id"]
CALL_DAY = datetime(2024, 5, 31, tzinfo=UTC)


def call_doc(name: str, call_id: str, customer: str) -> bytes:
    """A fixture webhook for a call and customer of this test only (Azurite is shared)."""
    text = (FIXTURES / f"{name}.json").read_text()
    return text.replace(BIZ_CALL, call_id).replace(FIXTURE_CUSTOMER, customer).encode()


def new_call() -> str:
    return f"wacid.HBgL{uuid.uuid4().hex}/+Q=="


def seed_business_call(call_id: str, customer: str) -> None:
    # The terminate (failed) arrives first; the earlier connect and statuses come after.
    seed.archive_body(call_doc("calls_failed", call_id, customer))
    seed.archive_body(call_doc("calls_business_initiated", call_id, customer))


async def test_detail_shows_the_call_timeline_in_provider_time(archive: Archive) -> None:
    call_id, customer = new_call(), seed.new_customer()
    seed_business_call(call_id, customer)
    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(DetailScreen(call_id))
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        table = app.screen.query_one("#calls", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("2024-05-31 16:13:20", "connect", "-"),
            ("2024-05-31 16:13:24", "status", "ringing"),
            ("2024-05-31 16:13:24", "status", "accepted"),
            ("2024-05-31 16:13:51", "terminate", "failed"),
        ]
        assert table.display and not app.screen.query_one("#timeline", DataTable).display
        facts = dict(app.screen.query_one("#summary", Facts).pairs)
        assert facts["call"] == call_id
        assert facts["latest state"] == "failed"  # the late statuses did not regress it
        assert facts["duration"] == "25 s"
        assert "business_initiated" in str(facts["direction"])
        assert str(app.screen.sub_title).startswith("call")


def test_show_gives_the_call_timeline_and_search_finds_calls(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    call_id, customer = new_call(), seed.new_customer()
    seed_business_call(call_id, customer)
    detail = message_detail(archive, call_id)
    assert [(c["event"], c["status"]) for c in detail.call_timeline] == [
        ("connect", None), ("status", "ringing"), ("status", "accepted"),
        ("terminate", "failed"),
    ]
    terminate = detail.call_timeline[-1]
    assert (terminate["start_time"], terminate["end_time"], terminate["duration"]) == (
        "2024-05-31T16:13:25Z", "2024-05-31T16:13:50Z", 25)
    assert [e["code"] for e in terminate["errors"]] == [131000]
    assert detail.latest_status == "failed"
    assert detail.record is not None and detail.record["content"]["call"]["event"] == "connect"

    for query in (SearchQuery(participant=customer, type="call"),
                  SearchQuery(business_id=seed.BUSINESS, customer_id=customer, type="call"),
                  SearchQuery(message_id=call_id, type="call")):
        rows = search(archive, query, page_size=50).rows
        assert len(rows) == 4 and {r["message_id"] for r in rows} == {call_id}, query
        assert {r["direction"] for r in rows} == {"outbound"}
    by_day = search(archive, SearchQuery(start=CALL_DAY, end=CALL_DAY + timedelta(days=1),
                                         type="call", direction="outbound"), page_size=500)
    assert call_id in {r["message_id"] for r in by_day.rows}
    assert search(archive, SearchQuery(participant=customer, type="text")).rows == []

    assert main(["show", call_id]) == 0
    out = capsys.readouterr().out
    assert "call timeline:" in out
    assert "terminate  failed  start=2024-05-31T16:13:25Z" in out and "errors=131000" in out
    assert main(["search", "--participant", customer, "--type", "call", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 4


def _write_the_old_way(body: bytes, received_at: datetime) -> tuple[str, dict[str, Any]]:
    """What store_record wrote for a calls webhook before issue #19: the same steps,
    on the event the parser made then (reproduced by legacy_calls=True)."""
    event = parse_webhook(body, received_at=received_at, legacy_calls=True).events[0]
    record = build_record(event, raw=RawRef("year=2024/month=05/day=31/old.json", "0" * 64),
                          received_at=received_at)
    name = record_blob_name(event)
    records = blob_service().get_container_client(RECORDS_CONTAINER)
    outcome = write_record(records, name, record_bytes(record), str(record["fingerprint"]))
    write_index_rows(table_service(), record, outcome.path)
    assert not update_latest_status(table_service(), record, outcome.path)
    return outcome.path, record


async def test_old_field_calls_records_stay_readable(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    received = datetime.now(UTC).replace(microsecond=0)
    body = call_doc("calls_failed", new_call(), seed.new_customer())
    path, old = _write_the_old_way(body, received)
    assert (old["event"], old["type"], old["content"]) == (
        "system", "field:calls", {"field": "calls", "timestamp_missing": True})
    assert old["fragment"]["field"] == "calls" and "calls" in old["fragment"]["value"]

    detail = message_detail(archive, old["message_id"])
    assert detail.record == old and detail.record_path == path
    assert detail.call_timeline == [] and detail.timeline == []
    assert detail.latest_status is None

    rows = search(archive, SearchQuery(participant=seed.BUSINESS, type="field:calls",
                                       start=received, end=received)).rows
    assert [r["message_id"] for r in rows] == [old["message_id"]]
    day = search(archive, SearchQuery(start=received, end=received, type="field:calls")).rows
    assert old["message_id"] in {r["message_id"] for r in day}
    assert main(["show", old["message_id"]]) == 0
    assert "field:calls" in capsys.readouterr().out

    app = ArchiveAdminApp(archive, refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(DetailScreen(old["message_id"]))
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        facts = dict(app.screen.query_one("#summary", Facts).pairs)
        assert facts["event"] == "system inbound field:calls"
        assert not app.screen.query_one("#calls", DataTable).display
