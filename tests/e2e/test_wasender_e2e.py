"""End to end: WASender webhooks -> devhost (real function_app) -> records, media and index.

Every fixture is posted as WASender sends it (``X-Webhook-Signature`` carries the webhook
secret itself), then posted again (a redelivery). The same inbound message also arrives
as ``messages.received`` and as ``messages.upsert``, as it does for a subscriber of both.
Media is decrypted by a local stand-in for the WASender API; statuses and group receipts
are posted out of order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient

from admin.custody import check_custody
from archive.custody import METHOD_WASENDER
from archive.identity import event_instance_id
from archive.layout import record_blob_name
from archive.names import (
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_WASENDER_API_URL,
)
from archive.wasender.parser import parse_wasender
from archive.wasender.redact import redact_credentials
from devhost.azurite import Azurite
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, http, wait_for
from tests.support.pipeline_env import WASENDER_RETIRED_SECRET, WASENDER_SECRET
from tests.support.wasender_api import API_KEY, FIXTURE_MEDIA, WasenderApi
from tests.support.webhooks import CUSTODY_MAC_KEY

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wasender"
ROUTE = "/api/webhooks/wasender"
HEADER = "X-Webhook-Signature"
_NOW = datetime(2026, 5, 31, tzinfo=UTC)  # parsing here reads ids and names only
# Out of order: read before delivered, a member's read before another's delivery.
POST_ORDER_FIRST = ("status_read", "receipt_group", "upsert_text")
TEXT_ID = "3EB0C767D26A1B4A1D41"  # in both received_text and upsert_text
OUTBOUND_ID = "3EB0OUT0000000000001"
GROUP_OUTBOUND_ID = "3EB0GOUT000000000001"
SESSION_KEY = "sess-key-not-a-real-one-0001"  # the fixtures' sessionId
# 30 fixtures; message_sent_failed, status_list and receipts_group_list hold two events
# each; received_text and upsert_text are one message.
EXPECTED_RECORDS = 32


@dataclass
class Stack:
    host: DevHostProcess
    api: WasenderApi
    conn: str

    @property
    def url(self) -> str:
        return f"{self.host.url}{ROUTE}"


@pytest.fixture
def stack(fresh_azurite: Azurite, tmp_path: Path) -> Iterator[Stack]:
    conn = fresh_azurite.connection_string
    ensure_archive_resources(conn)
    api = WasenderApi().start()
    api.add_fixture_media()
    host = DevHostProcess(conn, "http://127.0.0.1:9", tmp_path / "devhost.log")
    host.extra_env[SETTING_WASENDER_API_URL] = api.base_url
    host.extra_env[SETTING_MEDIA_HOST_ALLOWLIST] = "127.0.0.1"  # the stand-in, listed exactly
    host.start()
    try:
        yield Stack(host, api, conn)
    finally:
        host.stop()
        api.stop()


def names() -> list[str]:
    found = sorted(p.stem for p in FIXTURES.glob("*.json"))
    return [*POST_ORDER_FIRST, *(n for n in found if n not in POST_ORDER_FIRST)]


def body_of(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def post(stack: Stack, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[HEADER] = signature
    status, _ = http("POST", stack.url, body, headers)
    return status


def container(conn: str, name: str) -> ContainerClient:
    return BlobServiceClient.from_connection_string(conn).get_container_client(name)


def records(conn: str) -> dict[str, dict[str, Any]]:
    box = container(conn, RECORDS_CONTAINER)
    return {b.name: json.loads(box.download_blob(b.name).readall()) for b in box.list_blobs()}


def test_wasender_webhooks_are_archived_once_with_media_and_statuses(stack: Stack) -> None:
    fixtures = names()
    # What is archived is the body with its session credential redacted by the front door.
    events = [e for n in fixtures
              for e in parse_wasender(redact_credentials(body_of(n))[0], received_at=_NOW).events]
    expected = {record_blob_name(e) for e in events}
    assert len(expected) == EXPECTED_RECORDS
    upserted, received = (parse_wasender(body_of(n), received_at=_NOW).events[0]
                          for n in ("upsert_text", "received_text"))
    assert event_instance_id(upserted) == event_instance_id(received)

    for name in fixtures:
        assert post(stack, body_of(name), WASENDER_SECRET) == 200, name
    for name in fixtures:  # redelivered: identical bytes
        assert post(stack, body_of(name), WASENDER_SECRET) == 200, name
    # Signed with the retired secret during rotation: the same event again.
    assert post(stack, body_of("received_text"), WASENDER_RETIRED_SECRET) == 200

    reader = IndexReader(TableServiceClient.from_connection_string(stack.conn))

    def all_records() -> dict[str, dict[str, Any]] | None:
        found = records(stack.conn)
        return found if len(found) >= EXPECTED_RECORDS else None

    def media_blobs() -> list[BlobProperties] | None:
        blobs = list(container(stack.conn, MEDIA_CONTAINER).list_blobs())
        return blobs if len(blobs) >= len(FIXTURE_MEDIA) else None

    def shown(message_id: str, value: str) -> dict[str, Any] | None:
        row = reader.latest_status(message_id)
        return row if row and row["status"] == value else None

    wait_for(f"{EXPECTED_RECORDS} records", all_records)
    stored = wait_for("media blobs", media_blobs)
    # Statuses out of order never regress: read stays, though delivered came later.
    wait_for("read shown", lambda: shown(OUTBOUND_ID, "read"))
    wait_for("group read shown", lambda: shown(GROUP_OUTBOUND_ID, "read"))
    wait_for("played shown", lambda: shown("3EB0OUT0000000000003", "played"))
    wait_for("failed send shown", lambda: shown("3EB0OUT0000000000002", "failed"))

    # Every event exactly once: upsert + received -> one record, no conflicts.
    found = records(stack.conn)
    assert set(found) == expected
    assert not [n for n in found if ".conflict-" in n]
    assert all(r["provider"] == "wasender" and "/wasender/" in n for n, r in found.items())
    text_rows = [r for r in reader.by_message(TEXT_ID) if r["RowKey"] != "latest-status"]
    assert len(text_rows) == 1
    statuses = sorted(str(r.get("status")) for r in reader.by_message(OUTBOUND_ID)
                      if r["RowKey"] != "latest-status")
    assert statuses == ["None", "delivered", "read"]  # the message itself, then two statuses
    receipts = [r for r in found.values() if r["message_id"] == GROUP_OUTBOUND_ID]
    assert sorted((r["status"]["recipient"], r["status"]["value"]) for r in receipts) == [
        ("16315551182", "read"), ("16315551183", "delivered"), ("208452003451299@lid", "read")]
    kinds = sorted({(r["event"], r["type"]) for r in found.values()})
    for kind in [("message", "image"), ("message", "video"), ("message", "document"),
                 ("message", "audio"), ("message", "sticker"), ("reaction", "reaction"),
                 ("edit", "edit"), ("delete", "revoke"), ("system", "event:session.status"),
                 ("unknown", "unknown:event:labels.association")]:
        assert kind in kinds
    # sessionId is the session API key: no record holds it, nor the API key, and no raw
    # body either (WORM: it could never be removed); the front door redacts it.
    assert not [n for n, r in found.items() if SESSION_KEY in json.dumps(r)
                or API_KEY in json.dumps(r)]
    raw = container(stack.conn, RAW_CONTAINER)
    kept = [raw.download_blob(b.name).readall() for b in raw.list_blobs()]
    assert kept and not [b for b in kept if SESSION_KEY.encode() in b or API_KEY.encode() in b]
    assert any(b'"[redacted: session credential]"' in b for b in kept)

    # Media: stored once each, bytes as decrypted, one decrypt call per item.
    assert len(stored) == len(FIXTURE_MEDIA)
    for blob in stored:
        message_id = blob.name.rsplit("/", 2)[-2]
        data, mime = FIXTURE_MEDIA[message_id]
        assert container(stack.conn, MEDIA_CONTAINER).download_blob(blob.name).readall() == data
        assert blob.content_settings.content_type == mime
        assert (stack.api.media[message_id].decrypts, stack.api.media[message_id].downloads) \
            == (1, 1)
    assert stack.api.unauthorized == 0
    entries = [m for r in found.values() for m in r["media"]]
    assert len(entries) == len(FIXTURE_MEDIA)
    assert all(m["state"] == "stored" and m["sha256"] == hashlib.sha256(
        FIXTURE_MEDIA[m["media_id"].rsplit("-", 1)[0]][0]).hexdigest() for m in entries)

    # Every record re-derives from its raw body, authenticated at the front door.
    report = check_custody(
        container(stack.conn, RECORDS_CONTAINER), container(stack.conn, RAW_CONTAINER),
        {METHOD_WASENDER: [CUSTODY_MAC_KEY]},
    )
    assert (report.checked, report.verified, report.failed) == (
        EXPECTED_RECORDS, EXPECTED_RECORDS, [])
    assert shown(OUTBOUND_ID, "read")  # still read, now that every status is processed


def test_bad_or_missing_signature_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    body = body_of("received_text")
    assert post(stack, body, None) == 401
    assert post(stack, body, "") == 401
    assert post(stack, body, "not-the-webhook-secret-0123456789") == 401
    assert post(stack, body, WASENDER_SECRET[:-1]) == 401
    assert post(stack, body, WASENDER_SECRET.upper()) == 401
    # Not an HMAC either: a signature computed over the body is not the secret.
    assert post(stack, body, hashlib.sha256(WASENDER_SECRET.encode() + body).hexdigest()) == 401

    # Signed, but not JSON: kept raw, flagged, and answered 200.
    broken = b'{"event": "messages.received", "data": '
    assert post(stack, broken, WASENDER_SECRET) == 200
    # A good delivery after them all, so the worker has had its chance at everything.
    good = body_of("group_text")
    assert post(stack, good, WASENDER_SECRET) == 200

    reader = IndexReader(TableServiceClient.from_connection_string(stack.conn))
    wait_for("the signed message", lambda: reader.by_message("3EB0G1A2B3C4D5E6F7A8"))
    failure = wait_for("unparseable row", lambda: reader.failures("unparseable").rows)
    assert failure[0]["reason"] == "body is not valid JSON"

    raw_names = [b.name for b in container(stack.conn, RAW_CONTAINER).list_blobs()]
    assert len(raw_names) == 2  # the good body and the signed broken one, nothing else
    assert not [n for n in raw_names if hashlib.sha256(body).hexdigest() in n]
    assert reader.by_message(TEXT_ID) == []
    assert len(records(stack.conn)) == 1
    assert stack.api.requests == []
