"""Records on real Azurite: create-only writes, duplicate vs conflict, ids with / + =."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient

from archive.encoding import decode_id
from archive.events import CanonicalEvent
from archive.layout import record_blob_name
from archive.names import RECORDS_CONTAINER
from orchestrations.steps import store_record
from storage.blobs import create_only, write_record
from storage.clients import table_service
from storage.index_reader import IndexReader
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

RECEIVED = datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> BlobServiceClient:
    use_archive(monkeypatch, azurite_conn)
    return BlobServiceClient.from_connection_string(azurite_conn)


def make_event(message_id: str, customer: str = "15551234567", text: str = "hi") -> CanonicalEvent:
    return CanonicalEvent(
        provider="meta", event="message", direction="inbound", message_id=message_id,
        sender=customer, recipient="15550783881", business_id="106540352242922",
        customer_id=customer, timestamp=datetime(2026, 11, 26, 11, 59, tzinfo=UTC),
        type="text", content={"text": text}, fragment={"id": message_id},
    )


def payload(event: CanonicalEvent) -> dict[str, object]:
    return {
        "event": event.to_dict(),
        "raw": {"path": "year=2026/month=11/day=26/" + "c" * 64 + ".json", "sha256": "c" * 64},
        "received_at": RECEIVED.isoformat(),
        "media": [],
    }


def test_create_only_never_overwrites(archive: BlobServiceClient, unique_name: str) -> None:
    container = archive.get_container_client(RECORDS_CONTAINER)
    name = f"tests/{unique_name}.json"
    assert create_only(container, name, b'{"v":1}') is True
    assert create_only(container, name, b'{"v":2}') is False
    assert container.download_blob(name).readall() == b'{"v":1}'


def test_write_record_duplicate_then_conflict_keeps_both(
    archive: BlobServiceClient, unique_name: str
) -> None:
    container = archive.get_container_client(RECORDS_CONTAINER)
    name = f"tests/{unique_name}/record.json"
    first = json.dumps({"fingerprint": "f1", "content": "a"}).encode()
    assert write_record(container, name, first, "f1").state == "stored"

    again = write_record(container, name, first, "f1")
    assert (again.state, again.path) == ("duplicate", name)

    different = json.dumps({"fingerprint": "f2", "content": "b"}).encode()
    conflict = write_record(container, name, different, "f2")
    assert conflict.state == "conflict"
    assert conflict.path != name and conflict.path.endswith(".json")
    assert container.download_blob(name).readall() == first
    assert container.download_blob(conflict.path).readall() == different


def test_store_record_duplicate_and_conflict_flagged(archive: BlobServiceClient) -> None:
    event = make_event(f"wamid.{uuid.uuid4().hex}")
    assert store_record(payload(event))["state"] == "stored"
    assert store_record(payload(event))["state"] == "duplicate"

    edited = dataclasses.replace(event, content={"text": "something else"})
    result = store_record(payload(edited))
    assert result["state"] == "conflict"

    container = archive.get_container_client(RECORDS_CONTAINER)
    original = json.loads(container.download_blob(record_blob_name(event)).readall())
    assert original["content"] == {"text": "hi"}
    kept = json.loads(container.download_blob(result["path"]).readall())
    assert kept["content"] == {"text": "something else"}

    conflicts = IndexReader(table_service()).failures("conflict", page_size=1000).rows
    assert any(row["ref"] == result["path"] for row in conflicts)


def test_ids_with_slash_plus_equals_round_trip(archive: BlobServiceClient) -> None:
    message_id = f"wamid.HBgL/{uuid.uuid4().hex}+AbC=="
    customer = "+44/7700=900+123"
    event = make_event(message_id, customer=customer)
    result = store_record(payload(event))
    assert result["state"] == "stored"

    path = result["path"]
    segments = path.split("/")
    assert decode_id(segments[-2]) == message_id
    assert decode_id(segments[-3].split("~~")[1]) == customer
    stored = archive.get_container_client(RECORDS_CONTAINER).download_blob(path).readall()
    assert json.loads(stored)["message_id"] == message_id

    reader = IndexReader(table_service())
    rows = reader.by_message(message_id)
    assert [r["message_id"] for r in rows] == [message_id]
    assert rows[0]["record_path"] == path
    participant_rows = reader.by_participant(customer).rows
    assert [r["message_id"] for r in participant_rows] == [message_id]
