"""Chain of custody under attack, on Azurite: nothing Meta did not sign reaches `records`.

Each test plays an insider with one capability: Queue Sender on `ingest` (admins hold
it), the Durable system key (starts orchestrations with any input), or a misconfigured
app whose Key Vault reference did not resolve. Every attempt must end in `quarantine`
with a failures row, never in `records`. Each of these passed on main before the
custody work (see the CHANGELOG): the forged record was written or the gap closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.custody import CustodyError
from archive.identity import event_instance_id
from archive.names import (
    QUARANTINE_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_APP_SECRET,
    TABLE_FAILURES,
)
from archive.parsing import parse_body
from archive.signature import sign
from ingest.worker import handle_message, handle_refetch
from orchestrations.recovery import gap_row_key, store_media_recovery
from orchestrations.steps import note_record_failure, store_record
from storage.envelope import Envelope, encode
from storage.refetch_request import RefetchRequest
from tests.admin import seed
from tests.hostile.flow import archive_signed, post_webhook, raw_blob_names, read_record
from tests.support import webhooks
from tests.support.envelopes import meta_envelope

pytestmark = pytest.mark.azurite

TS = 1764158400


class RecordingDurableClient:
    """Stands in for the Durable client binding (not for storage): records what starts."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, Any]] = []

    async def get_status(self, instance_id: str) -> None:
        return None

    async def start_new(self, name: str, instance_id: str, payload: Any) -> str:
        self.started.append((name, instance_id, payload))
        return instance_id


def text_body(text: str, wamid: str | None = None) -> bytes:
    wamid = wamid or f"wamid.{uuid.uuid4().hex}"
    return webhooks.body_of(webhooks.text_message(wamid, "15551234567", TS, text))


def quarantined_rows(conn: str) -> list[dict[str, Any]]:
    table = TableServiceClient.from_connection_string(conn).get_table_client(TABLE_FAILURES)
    return list(table.query_entities("PartitionKey eq 'quarantined'"))


def quarantine_row_for(conn: str, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    rows = [r for r in quarantined_rows(conn) if digest in str(r.get("ref"))]
    assert len(rows) == 1, f"expected one quarantine row for {digest}"
    blobs = BlobServiceClient.from_connection_string(conn)
    kept = blobs.get_container_client(QUARANTINE_CONTAINER).download_blob(rows[0]["ref"])
    assert kept.readall() == data  # the attempt is kept as evidence, byte for byte
    return rows[0]


def records_mentioning(conn: str, needle: str) -> list[str]:
    records = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER
    )
    return [
        blob.name for blob in records.list_blobs()
        if needle.encode() in records.download_blob(blob.name).readall()
    ]


def run_worker(message: str) -> RecordingDurableClient:
    client = RecordingDurableClient()
    asyncio.run(handle_message(message.encode("utf-8"), client))
    return client


def test_forged_envelope_naming_a_genuine_raw_blob_is_quarantined(conn: str) -> None:
    genuine = archive_signed(text_body("the genuine words"))
    marker = f"forged-{uuid.uuid4().hex}"
    forged_body = text_body(marker)
    # Everything points at the genuine body except the inline bytes.
    forged = Envelope(
        source="meta", received_at=genuine.envelope.received_at,
        sha256=genuine.envelope.sha256, size=len(forged_body), body=forged_body,
        raw_path=genuine.envelope.raw_path, signature=genuine.envelope.signature,
    )
    message = encode(forged, inline=True)

    client = run_worker(message)

    assert client.started == []
    row = quarantine_row_for(conn, message.encode("utf-8"))
    assert "sha256" in row["reason"]
    assert records_mentioning(conn, marker) == []


def test_fabricated_body_enqueued_directly_is_quarantined(conn: str) -> None:
    marker = f"fabricated-{uuid.uuid4().hex}"
    body = text_body(marker)
    # A self-consistent envelope: right sha256 and name, but no secret to sign with.
    envelope = meta_envelope(body, secret="a-guessed-secret-0123456789")
    message = encode(envelope, inline=True)

    client = run_worker(message)

    assert client.started == []
    row = quarantine_row_for(conn, message.encode("utf-8"))
    assert "does not verify" in row["reason"]
    assert raw_blob_names(conn, envelope.sha256) == []  # never reaches `raw`
    assert records_mentioning(conn, marker) == []


def test_a_message_that_is_no_envelope_at_all_is_quarantined(conn: str) -> None:
    message = json.dumps({"note": f"junk-{uuid.uuid4().hex}"})
    client = run_worker(message)
    assert client.started == []
    quarantine_row_for(conn, message.encode("utf-8"))


def test_raw_blob_holding_other_bytes_quarantines_the_message(conn: str) -> None:
    body = text_body(f"genuine-{uuid.uuid4().hex}")
    envelope = meta_envelope(body)
    # An insider with write on `raw` (no role has it in Azure) planted other bytes first.
    BlobServiceClient.from_connection_string(conn).get_container_client(
        RAW_CONTAINER).upload_blob(envelope.raw_path, b"planted", overwrite=True)
    message = encode(envelope, inline=True)

    client = run_worker(message)

    assert client.started == []
    assert "different bytes" in quarantine_row_for(conn, message.encode("utf-8"))["reason"]


def test_archive_event_started_with_forged_input_writes_no_record(conn: str) -> None:
    genuine = archive_signed(text_body("genuine"))
    assert genuine.stored[0]["state"] == "stored"
    marker = f"forged-{uuid.uuid4().hex}"
    (forged_event,) = parse_body("meta", text_body(marker), datetime.now(UTC)).events
    # The attacker names the genuine raw blob, with a fabricated event and its id.
    forged_input = {
        "raw": {"path": genuine.envelope.raw_path, "sha256": genuine.envelope.sha256},
        "received_at": genuine.envelope.received_at.isoformat(),
        "event_ref": {"source": "meta", "index": 0,
                      "instance_id": event_instance_id(forged_event)},
        "event": forged_event.to_dict(),
        "media": [],
    }
    with pytest.raises(CustodyError) as refused:
        store_record(forged_input)
    assert records_mentioning(conn, marker) == []

    # What the orchestrator does once store_record's retries are exhausted.
    noted = note_record_failure({
        "instance_id": event_instance_id(forged_event), "reason": str(refused.value),
        "input": {"raw": forged_input["raw"], "event_ref": forged_input["event_ref"]},
    })
    assert noted["kind"] == "quarantined"
    assert any(r["ref"] == noted["path"] for r in quarantined_rows(conn))


def test_archive_event_input_without_a_raw_body_is_refused(conn: str) -> None:
    (event,) = parse_body("meta", text_body("no raw"), datetime.now(UTC)).events
    digest = "e" * 64
    with pytest.raises(CustodyError, match="does not exist"):
        store_record({
            "raw": {"path": f"year=2026/month=11/day=26/{digest}.json", "sha256": digest},
            "event_ref": {"source": "meta", "index": 0, "instance_id": event_instance_id(event)},
            "media": [],
        })


def _gap(wamid: str) -> tuple[str, str]:
    """Archive an image whose media fetch failed; returns (record path, media id)."""
    media_id = f"m-{uuid.uuid4().hex[:12]}"
    (path,) = seed.archive_body(webhooks.image_message(wamid, seed.new_customer(), TS, media_id))
    return path, media_id


def test_refetch_request_naming_an_unrelated_gap_is_quarantined(conn: str) -> None:
    mine_path, mine_media = _gap(seed.new_wamid())
    other_path, other_media = _gap(seed.new_wamid())
    other_row = gap_row_key(read_record(conn, other_path), other_path, other_media)
    forged = RefetchRequest(
        record_path=mine_path, media_id=mine_media, failure_row=other_row,
        requested_by="mallory", requested_at=datetime.now(UTC).isoformat(),
    )
    client = RecordingDurableClient()
    assert asyncio.run(handle_refetch(forged, client)) is False
    assert client.started == []
    assert any(r["reason"].startswith("refetch request names") for r in quarantined_rows(conn))

    # A forged refetch_media start (Durable system key) cannot pick the row either:
    # store_media_recovery recomputes it from the record.
    record_bytes = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER).download_blob(mine_path).readall()
    store_media_recovery({
        "request": forged.to_json(),
        "record": {"path": mine_path, "sha256": hashlib.sha256(record_bytes).hexdigest()},
        "message_id": "x",
        "media": {"media_id": mine_media, "state": "stored", "blob_path": "p/x.jpg",
                  "sha256": "f" * 64, "size": 1, "mime_type": "image/jpeg"},
        "recovered_at": datetime.now(UTC).isoformat(),
    })
    table = TableServiceClient.from_connection_string(conn).get_table_client(TABLE_FAILURES)
    other = table.get_entity("media_unavailable", other_row)
    assert not other.get("resolved")
    mine = table.get_entity(
        "media_unavailable", gap_row_key(read_record(conn, mine_path), mine_path, mine_media)
    )
    assert mine["resolved"] is True


KEY_VAULT_LITERAL = (
    "@Microsoft.KeyVault(SecretUri=https://wa-archive-kv.vault.azure.net/secrets/"
    "whatsapp-app-secret/)"
)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(KEY_VAULT_LITERAL, id="key-vault-literal"),
        pytest.param("@Microsoft.AppConfiguration(Endpoint=https://x.azconfig.io; Key=k)",
                     id="app-configuration-literal"),
        pytest.param("short-secret", id="shorter-than-16"),
    ],
)
def test_unusable_secret_setting_fails_closed_with_a_generic_500(
    conn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv(SETTING_APP_SECRET, value)
    body = text_body("signed with the predictable literal")
    # The attacker signs with the very text App Service passed on.
    response = post_webhook(body, {"X-Hub-Signature-256": sign(body, value)})
    assert response.status_code == 500
    assert json.loads(response.get_body()) == {"error": "internal error"}
    assert raw_blob_names(conn, hashlib.sha256(body).hexdigest()) == []
    # The operator learns which setting is wrong; the caller does not.
    assert SETTING_APP_SECRET in caplog.text
    assert value not in caplog.text
