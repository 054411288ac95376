"""End to end: signed webhooks -> devhost -> records and term rows -> `wa-archive search --text`."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from archive.names import SETTING_ARCHIVE_STORAGE, TABLE_BY_TERM
from cli.main import main
from devhost.azurite import Azurite
from storage.index_reader import IndexReader
from storage.index_writer import TERM_MARKER_PARTITION, TERM_MARKER_ROW
from tests.e2e.pipeline_harness import DevHostProcess, wait_for
from tests.e2e.pipeline_harness import send_webhook as send
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer

pytestmark = pytest.mark.e2e

ALICE = "15551230001"
BOB = "15551230002"


def _message(sender: str, wamid: str, ts: int, kind: str, body: dict[str, Any]
             ) -> dict[str, Any]:
    return webhooks.envelope({
        "contacts": [{"profile": {"name": "Client"}, "wa_id": sender}],
        "messages": [{"from": sender, "id": wamid, "timestamp": str(ts), "type": kind,
                      kind: body}],
    })


def _search(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["search", *argv, "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def _ids(page: dict[str, Any]) -> list[str]:
    return [row["message_id"] for row in page["rows"]]


def test_text_caption_and_edit_are_found_and_scoped_by_participant(
    devhost: DevHostProcess, fresh_azurite: Azurite, media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    conn = fresh_azurite.connection_string
    monkeypatch.setenv(SETTING_ARCHIVE_STORAGE, conn)
    tables = TableServiceClient.from_connection_string(conn)
    # Term rows "since" two days ago: today's messages are searched through the index.
    since = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")
    tables.get_table_client(TABLE_BY_TERM).create_entity(
        {"PartitionKey": TERM_MARKER_PARTITION, "RowKey": TERM_MARKER_ROW, "day": since})

    now = int(time.time()) - 300
    text_id, image_id, edit_id, bob_id = (f"wamid.{uuid.uuid4().hex}" for _ in range(4))
    item = media_server.add("media/escrow", MediaItem(data=b"\xff\xd8" + b"x" * 2000))
    assert send(devhost, _message(ALICE, text_id, now, "text",
                                  {"body": "Please wire the Escrow funds today"})) == 200
    assert send(devhost, _message(ALICE, image_id, now + 10, "image", {
        "id": "media/escrow", "mime_type": "image/jpeg", "sha256": item.sha256,
        "caption": "escrow RECEIPT attached"})) == 200
    assert send(devhost, _message(ALICE, edit_id, now + 20, "edit", {
        "original_message_id": text_id,
        "message": {"type": "text", "text": {"body": "Please wire the escrow funds tomorrow"}},
    })) == 200
    assert send(devhost, _message(BOB, bob_id, now + 30, "text",
                                  {"body": "escrow funds for Bob"})) == 200

    reader = IndexReader(tables)
    for wamid in (text_id, image_id, edit_id, bob_id):
        wait_for("index rows", lambda w=wamid: reader.by_message(w))  # type: ignore[misc]

    window = ["--from", (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")]
    page = _search(capsys, "--text", "escrow funds", *window)
    assert _ids(page) == [bob_id, edit_id, text_id]  # newest first
    assert page["stats"]["days_indexed"] >= 1 and page["stats"]["days_scanned"] == 0
    fields = {row["message_id"]: row["fields"] for row in page["rows"]}
    assert fields[edit_id] == ["content.edited.text"] and fields[text_id] == ["content.text"]

    caption = _search(capsys, "--text", "Escrow receipt", *window)
    assert _ids(caption) == [image_id]
    assert caption["rows"][0]["fields"] == ["content.caption"]
    assert _ids(_search(capsys, "--text", "funds TOMORROW", *window)) == [edit_id]

    # Participant scope: Alice's messages only, not Bob's.
    scoped = _search(capsys, "--text", "escrow funds", "--participant", f"+{ALICE}", *window)
    assert _ids(scoped) == [edit_id, text_id]

    # A full scan of the same days agrees with the index.
    scanned = _search(capsys, "--text", "escrow funds", "--scan", *window)
    assert _ids(scanned) == _ids(page) and scanned["stats"]["days_indexed"] == 0
    assert tables.get_table_client(TABLE_BY_TERM).get_entity(
        TERM_MARKER_PARTITION, TERM_MARKER_ROW)["day"] == since  # create-only: ours stays
