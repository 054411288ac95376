"""Nothing acknowledged can expire or vanish: poison -> `deadletter`, raw -> records reconciled."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.names import DEADLETTER_CONTAINER, INGEST_POISON_QUEUE, TABLE_FAILURES
from ingest.worker import prepare
from storage.clients import blob_service, queue_client, table_service
from storage.deadletter import drain_poison
from storage.envelope import decode, encode
from storage.reconcile import reconcile_day
from tests.support import webhooks
from tests.support.envelopes import meta_envelope, store_envelope
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

TS = 1764158400


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> str:
    use_archive(monkeypatch, azurite_conn)
    return azurite_conn


def rows(conn: str, kind: str) -> list[dict[str, Any]]:
    table = TableServiceClient.from_connection_string(conn).get_table_client(TABLE_FAILURES)
    return list(table.query_entities(f"PartitionKey eq '{kind}'"))


def text(wamid: str) -> bytes:
    return webhooks.body_of(webhooks.text_message(wamid, "15551234567", TS, "hello"))


def test_poison_message_ends_in_deadletter_with_a_failures_row(conn: str) -> None:
    poison = queue_client(INGEST_POISON_QUEUE)
    envelope = meta_envelope(text(f"wamid.{uuid.uuid4().hex}"))
    message = encode(envelope, inline=True)
    poison.send_message(message)  # as the host moves it: the default 7-day expiry
    junk = f"not an envelope {uuid.uuid4().hex}"
    poison.send_message(junk)

    result = drain_poison(
        poison, blob_service().get_container_client(DEADLETTER_CONTAINER), table_service()
    )

    assert result.drained >= 2 and result.remaining is False
    assert list(poison.peek_messages(max_messages=32)) == []
    dead = BlobServiceClient.from_connection_string(conn).get_container_client(
        DEADLETTER_CONTAINER
    )
    kept = {dead.download_blob(b.name).readall() for b in dead.list_blobs()}
    assert message.encode() in kept and junk.encode() in kept
    details = [json.loads(r["detail"]) for r in rows(conn, "deadletter")]
    mine = [d for d in details if d.get("sha256") == envelope.sha256]
    assert len(mine) == 1 and mine[0]["source"] == "meta"
    # The kept bytes are the envelope itself, so a replay can re-enqueue them verbatim.
    assert decode(dead.download_blob(mine[0]["deadletter_path"]).readall()) == envelope


def test_drain_is_bounded_per_run(conn: str) -> None:
    poison = queue_client(INGEST_POISON_QUEUE)
    for _ in range(3):
        poison.send_message(f"junk {uuid.uuid4().hex}")
    container = blob_service().get_container_client(DEADLETTER_CONTAINER)
    first = drain_poison(poison, container, table_service(), limit=2)
    assert (first.drained, first.remaining) == (2, True)
    second = drain_poison(poison, container, table_service())
    assert second.drained >= 1 and second.remaining is False
    assert list(poison.peek_messages(max_messages=32)) == []


def test_reconciliation_finds_a_raw_body_without_its_record(conn: str) -> None:
    day = datetime(2026, 2, 3, 10, tzinfo=UTC)  # a day no other test receives on
    archived = meta_envelope(text(f"wamid.{uuid.uuid4().hex}"), day)
    (stored,) = store_envelope(archived)
    assert stored["state"] == "stored"
    # A body accepted by the worker whose orchestration never wrote its record.
    lost_wamid = f"wamid.{uuid.uuid4().hex}"
    lost = meta_envelope(text(lost_wamid), day)
    prepare(lost)
    unparseable = meta_envelope(b"signed but not json", day)
    prepare(unparseable)  # writes its own failures row: explained, not missing

    report = reconcile_day(blob_service(), table_service(), day.date())

    assert (report.raw_bodies, report.events, report.recorded) == (3, 2, 1)
    (missing,) = report.missing
    assert missing.raw_path == lost.raw_path
    listed = [json.loads(r["detail"]) for r in rows(conn, "reconcile_missing")]
    assert any(d["raw_path"] == lost.raw_path for d in listed)
