"""The HTTP front door and the queue side on real Azurite (functions called directly)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

import function_app
from archive.names import (
    INGEST_QUEUE,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_ARCHIVE_STORAGE,
    SETTING_MAX_WEBHOOK_BYTES,
    TABLE_FAILURES,
)
from devhost.azurite import free_port
from devhost.discovery import describe
from ingest.worker import orchestration_input, prepare
from orchestrations.steps import store_record
from storage.envelope import MAX_INLINE_ENVELOPE_BYTES, decode, load_body
from tests.support import webhooks
from tests.support.envelopes import enqueue_signed, meta_envelope
from tests.support.pipeline_env import use_archive
from tests.support.routes import call_route

pytestmark = pytest.mark.azurite

FUNCTIONS = {spec.name: spec.callable for spec in describe(function_app.app)}


def call(name: str, req: func.HttpRequest) -> func.HttpResponse:
    """Invoke an HTTP function as the worker does: awaited when it is async."""
    return call_route(FUNCTIONS[name], req)


def post(url: str, body: bytes, headers: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest("POST", url, headers=headers, body=body)


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> str:
    use_archive(monkeypatch, azurite_conn)
    return azurite_conn


def ingest_queue(conn: str, name: str = INGEST_QUEUE) -> QueueClient:
    return QueueClient.from_connection_string(
        conn, name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def queued_sha256s(conn: str) -> list[str]:
    messages = ingest_queue(conn).peek_messages(max_messages=32)
    return [decode(m.content).sha256 for m in messages]


def drain(conn: str) -> None:
    ingest_queue(conn).clear_messages()


def test_small_body_travels_inline_and_big_body_is_claim_checked(
    conn: str, unique_name: str
) -> None:
    queue = ingest_queue(conn, unique_name)
    queue.create_queue()
    raw = BlobServiceClient.from_connection_string(conn).get_container_client(RAW_CONTAINER)
    now = datetime.now(UTC)

    small = meta_envelope(b'{"object":"whatsapp_business_account"}', now)
    assert enqueue_signed(small, queue, raw) is False
    assert not raw.get_blob_client(small.raw_path).exists()

    big_body = json.dumps({"pad": "x" * (48 * 1024 + 10), "id": unique_name}).encode()
    big = meta_envelope(big_body, now)
    assert enqueue_signed(big, queue, raw) is True
    assert raw.get_blob_client(big.raw_path).download_blob().readall() == big_body

    contents = [m.content for m in queue.receive_messages(max_messages=2)]
    first, second = (decode(c) for c in contents)
    assert first.body == small.body
    assert second.body is None and second.raw_path == big.raw_path
    assert len(contents[1].encode()) < 1024 < MAX_INLINE_ENVELOPE_BYTES  # just a pointer
    assert load_body(second, raw) == big_body


def test_envelopes_are_enqueued_with_no_expiry(conn: str) -> None:
    """A body acknowledged with 200 may exist only on the queue: it must never age out."""
    drain(conn)
    body = webhooks.body_of(webhooks.text_message("wamid.ttl", "15551234567", 1764158400))
    assert call("meta_webhook", post("/api/webhooks/meta", body,
                                     webhooks.signed_headers(body))).status_code == 200
    (message,) = ingest_queue(conn).peek_messages(max_messages=32)
    assert message.expires_on is not None and message.expires_on.year == 9999
    # Claim-checked envelopes too.
    big = webhooks.body_of(webhooks.text_message("wamid.ttl2", "15551234567", 1764158400,
                                                 "x" * (MAX_INLINE_ENVELOPE_BYTES + 10)))
    assert call("meta_webhook", post("/api/webhooks/meta", big,
                                     webhooks.signed_headers(big))).status_code == 200
    messages = ingest_queue(conn).peek_messages(max_messages=32)
    assert len(messages) == 2
    assert all(m.expires_on is not None and m.expires_on.year == 9999 for m in messages)
    drain(conn)


def test_handshake(conn: str) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": webhooks.VERIFY_TOKEN,
              "hub.challenge": "1158201444"}
    ok = call("meta_webhook", func.HttpRequest("GET", "/api/webhooks/meta", body=b"",
                                               params=params))
    assert (ok.status_code, ok.get_body()) == (200, b"1158201444")
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    params["hub.verify_token"] = "wrong"
    refused = call("meta_webhook", func.HttpRequest("GET", "/api/webhooks/meta", body=b"",
                                                    params=params))
    assert refused.status_code == 403


def test_signed_webhook_is_enqueued_and_bad_signature_is_not(conn: str) -> None:
    drain(conn)
    body = webhooks.body_of(webhooks.text_message(f"wamid.{uuid.uuid4().hex}", "15551234567",
                                                  1764158400))
    bad = call("meta_webhook", post("/api/webhooks/meta", body,
                                    webhooks.signed_headers(body, "not-the-secret")))
    assert bad.status_code == 401
    assert queued_sha256s(conn) == []

    good = call("meta_webhook", post("/api/webhooks/meta", body, webhooks.signed_headers(body)))
    assert good.status_code == 200
    assert queued_sha256s(conn) == [hashlib.sha256(body).hexdigest()]
    drain(conn)


def test_oversized_webhook_is_refused_before_anything_else(
    conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drain(conn)
    monkeypatch.setenv(SETTING_MAX_WEBHOOK_BYTES, "1000")
    body = b"{" + b" " * 2000 + b"}"
    response = call("meta_webhook", post("/api/webhooks/meta", body, {}))  # unsigned, too
    assert response.status_code == 413
    assert queued_sha256s(conn) == []


def test_storage_unreachable_answers_503(conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    dead = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    monkeypatch.setenv(SETTING_ARCHIVE_STORAGE, dead)
    body = webhooks.body_of(webhooks.text_message("wamid.x", "15551234567", 1764158400))
    response = call("meta_webhook", post("/api/webhooks/meta", body,
                                         webhooks.signed_headers(body)))
    assert response.status_code == 503
    assert response.headers.get("Retry-After")


def test_health_reports_ok_without_secrets(conn: str) -> None:
    response = call("health", func.HttpRequest("GET", "/api/health", body=b""))
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {"status": "ok"}


def test_outbound_validation_errors_are_400_with_a_message(conn: str) -> None:
    drain(conn)
    for body in (b"not json", b'{"to": "15551234567"}'):
        response = call("outbound_capture", post("/api/outbound", body, {}))
        assert response.status_code == 400
        assert json.loads(response.get_body())["error"]
    assert queued_sha256s(conn) == []


def test_outbound_capture_is_enqueued(conn: str) -> None:
    drain(conn)
    doc: dict[str, Any] = {
        "message_id": f"wamid.{uuid.uuid4().hex}", "to": "15551234567",
        # Outbound captures must be at most 7 days old: a time relative to now.
        "from": webhooks.PHONE_NUMBER_ID,
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "text", "content": {"text": "Your statement is ready"},
    }
    body = json.dumps(doc).encode()
    response = call("outbound_capture", post("/api/outbound", body, {}))
    assert response.status_code == 202, response.get_body()
    answer = json.loads(response.get_body())
    assert answer["message_id"] == doc["message_id"] and answer["instance_id"]
    assert queued_sha256s(conn) == [hashlib.sha256(body).hexdigest()]
    drain(conn)


def test_signed_but_unparseable_body_is_kept_and_flagged(conn: str) -> None:
    body = f"not json at all {uuid.uuid4().hex}".encode()
    envelope = meta_envelope(body, datetime.now(UTC))
    prepared = prepare(envelope)
    assert prepared.events == () and prepared.problems

    raw = BlobServiceClient.from_connection_string(conn).get_container_client(RAW_CONTAINER)
    assert raw.get_blob_client(envelope.raw_path).download_blob().readall() == body
    failures = TableServiceClient.from_connection_string(conn).get_table_client(TABLE_FAILURES)
    rows = list(failures.query_entities("PartitionKey eq 'unparseable'"))
    assert any(row["ref"].startswith(envelope.raw_path) for row in rows)
    assert all(body.decode() not in str(row) for row in rows)  # no content in the index


def test_very_large_event_travels_as_a_pointer_and_is_archived_in_full(conn: str) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    long_text = "x" * (20 * 1024)
    body = webhooks.body_of(webhooks.text_message(wamid, "15551234567", 1764158400, long_text))
    envelope = meta_envelope(body, datetime.now(UTC))
    (event,) = prepare(envelope).events

    payload = orchestration_input(envelope, event, 0)
    assert payload["event_ref"]["index"] == 0
    assert payload["event"]["content"] == {} and payload["event"]["message_id"] == wamid
    assert len(json.dumps(payload)) < 4096

    result = store_record({**payload, "media": []})
    assert result["state"] == "stored"
    records = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER
    )
    record = json.loads(records.download_blob(result["path"]).readall())
    assert record["content"]["text"] == long_text
