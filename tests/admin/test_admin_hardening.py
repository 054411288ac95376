"""Search paging, terminal escapes, replay expiry and SDK logging, on real Azurite."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from admin.actions import audited_replay
from admin.connection import Archive
from admin.failures import failures
from admin.poison import peek_poison
from admin.search import SearchQuery, search
from archive.index import failure_entity, message_key
from archive.names import INGEST_QUEUE, RAW_CONTAINER, TABLE_BY_MESSAGE
from cli.main import main
from storage.blobs import create_only
from storage.clients import blob_service, table_service
from storage.index_writer import write_failure
from tests.admin import seed
from tests.support import webhooks

pytestmark = pytest.mark.azurite

MARKUP = "[bold red]Really delete everything?[/]"
ANSI = "\x1b[2J\x1b]0;pwned\x07"
FAR_DAY = "2999-12-31"  # sorts first among the shared Azurite's failure rows


def test_search_by_message_id_reads_every_page(archive: Archive) -> None:
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.text_message(wamid, seed.new_customer(), 1_750_000_000))
    table = table_service().get_table_client(TABLE_BY_MESSAGE)
    (row,) = [dict(r) for r in table.query_entities(
        f"PartitionKey eq '{message_key(wamid)}' and RowKey ne 'latest-status'")]
    # A table query page holds at most 1000 rows; 1100 more events of this message.
    clones = [{**row, "RowKey": f"status-{i:019d}-clone", "event": "status"}
              for i in range(1100)]
    for start in range(0, len(clones), 100):
        table.submit_transaction([("upsert", c) for c in clones[start:start + 100]])

    page = search(archive, SearchQuery(message_id=wamid))

    assert len(page.rows) == 1101
    assert sum(r["event"] == "message" for r in page.rows) == 1


def test_failures_output_carries_no_terminal_escapes(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = f"raw/{uuid.uuid4().hex}{ANSI}#0"
    write_failure(table_service(), failure_entity(
        "unparseable", day=FAR_DAY, ref=ref, reason=f"{MARKUP}{ANSI}", detail={}))

    assert main(["failures"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert MARKUP in out  # shown literally: the CLI does not interpret markup
    assert main(["failures", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(f["ref"] == ref for f in listed)  # scripts still get the exact value


def test_replayed_poison_and_gap_refetch_never_expire(archive: Archive) -> None:
    seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(), 1_750_000_000))
    (message,) = peek_poison(archive)
    audited_replay(archive, ids=[message.message_id])
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.image_message(wamid, seed.new_customer(), 1_750_000_100, "9901"),
                      media_error="media URL expired (HTTP 404)")
    gap = next(f for f in failures(archive)
               if f.kind == "media_unavailable" and f.detail.get("message_id") == wamid)
    audited_replay(archive, ids=[gap.id])

    received = list(archive.queue(INGEST_QUEUE).receive_messages(max_messages=32))
    assert len(received) == 2
    assert all(m.expires_on is not None and m.expires_on.year == 9999 for m in received)


def test_sdk_request_logging_never_shows_blob_paths(
    archive: Archive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    name = f"year=2025/month=01/day=01/{seed.new_customer()}/{uuid.uuid4().hex}.json"
    create_only(blob_service().get_container_client(RAW_CONTAINER), name, b"{}")
    archive.container(RAW_CONTAINER).download_blob(name).readall()
    leaked = [r for r in caplog.records
              if r.name.startswith("azure") and name.split("/")[3] in r.getMessage()]
    assert leaked == []
    assert logging.getLogger("azure").getEffectiveLevel() >= logging.WARNING
    assert archive.container(RAW_CONTAINER).download_blob(name).readall() == b"{}"
