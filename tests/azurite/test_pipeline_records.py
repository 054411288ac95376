"""Records on real Azurite: create-only writes, duplicate vs conflict, ids with / + =."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from archive.encoding import decode_id
from archive.names import RECORDS_CONTAINER
from storage.blobs import create_only, write_record
from storage.clients import table_service
from storage.envelope import Envelope
from storage.index_reader import IndexReader
from tests.support import webhooks
from tests.support.envelopes import meta_envelope, store_envelope
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

RECEIVED = datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> BlobServiceClient:
    use_archive(monkeypatch, azurite_conn)
    return BlobServiceClient.from_connection_string(azurite_conn)


TS = int(datetime(2026, 11, 26, 11, 59, tzinfo=UTC).timestamp())


def signed(message_id: str, customer: str = "15551234567", text: str = "hi") -> Envelope:
    body = webhooks.body_of(webhooks.text_message(message_id, customer, TS, text))
    return meta_envelope(body, RECEIVED)


def store(envelope: Envelope) -> dict[str, Any]:
    (result,) = store_envelope(envelope)
    return result


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
    wamid = f"wamid.{uuid.uuid4().hex}"
    first = store(signed(wamid))
    assert first["state"] == "stored"
    assert store(signed(wamid))["state"] == "duplicate"

    # Meta signed a second, different body for the same message id and time.
    result = store(signed(wamid, text="something else"))
    assert result["state"] == "conflict"

    container = archive.get_container_client(RECORDS_CONTAINER)
    original = json.loads(container.download_blob(first["path"]).readall())
    assert original["content"]["text"] == "hi"
    kept = json.loads(container.download_blob(result["path"]).readall())
    assert kept["content"]["text"] == "something else"

    conflicts = IndexReader(table_service()).failures("conflict", page_size=1000).rows
    assert any(row["ref"] == result["path"] for row in conflicts)


def test_ids_with_slash_plus_equals_round_trip(archive: BlobServiceClient) -> None:
    message_id = f"wamid.HBgL/{uuid.uuid4().hex}+AbC=="
    customer = "+44/7700=900+123"
    result = store(signed(message_id, customer=customer))
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
