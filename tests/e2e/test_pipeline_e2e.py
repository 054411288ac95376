"""End to end: signed webhooks -> devhost (real function_app) -> Azurite records, media, index."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from admin.custody import check_custody
from archive.custody import METHOD_META, METHOD_OUTBOUND
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from devhost.azurite import Azurite
from storage.index_reader import IndexReader
from tests.e2e.pipeline_harness import FUNCTION_KEY, DevHostProcess, http, wait_for
from tests.e2e.pipeline_harness import send_webhook as send
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer

pytestmark = pytest.mark.e2e

CUSTOMER = "15551234567"
T0 = 1764158400  # 2025-11-26T12:00:00Z


def record_names(conn: str) -> list[str]:
    container = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER
    )
    return sorted(b.name for b in container.list_blobs())


def test_webhooks_become_records_media_and_index(
    devhost: DevHostProcess, fresh_azurite: Azurite, media_server: MediaServer
) -> None:
    conn = fresh_azurite.connection_string
    text_id = f"wamid.HBgL/{uuid.uuid4().hex}+t=="
    image_id = f"wamid.HBgL/{uuid.uuid4().hex}+i=="
    outbound_id = f"wamid.HBgL/{uuid.uuid4().hex}+o=="
    forged_id = f"wamid.{uuid.uuid4().hex}"
    image_bytes = os.urandom(300_000)
    item = media_server.add("media/1+=", MediaItem(data=image_bytes))

    status, _ = http("GET", f"{devhost.url}/api/health")
    assert status == 200

    text = webhooks.text_message(text_id, CUSTOMER, T0)
    image = webhooks.image_message(image_id, CUSTOMER, T0 + 60, "media/1+=", item.sha256)
    assert send(devhost, text) == 200
    assert send(devhost, image) == 200
    assert send(devhost, text) == 200  # Meta redelivers
    assert send(devhost, image) == 200

    # A capture must be sent within a window around its receipt (7 days back at most).
    sent_at = int(time.time()) - 60
    outbound = {"message_id": outbound_id, "to": CUSTOMER, "from": webhooks.PHONE_NUMBER_ID,
                "timestamp": sent_at, "type": "text", "content": {"text": "statement ready"}}
    status, answer = http("POST", f"{devhost.url}/api/outbound", json.dumps(outbound).encode(),
                          {"Content-Type": "application/json", "x-functions-key": FUNCTION_KEY})
    assert status == 202, answer
    status, _ = http("POST", f"{devhost.url}/api/outbound", b"{}",
                     {"Content-Type": "application/json"})
    assert status == 401  # the outbound route needs the function key

    for value, offset in (("read", 300), ("delivered", 200), ("sent", 130)):
        assert send(devhost, webhooks.status(outbound_id, CUSTOMER, value, T0 + offset)) == 200
    assert send(devhost, webhooks.status(outbound_id, CUSTOMER, "read", T0 + 300)) == 200

    forged = webhooks.body_of(webhooks.text_message(forged_id, CUSTOMER, T0 + 500))
    assert send(devhost, forged, secret="attacker-guess") == 401
    assert send(devhost, b"signed but not json") == 200

    # text, image, outbound message, sent, delivered, read: six events, one record each.
    names = wait_for("six records", lambda: (n := record_names(conn)) and len(n) >= 6 and n)
    reader = IndexReader(TableServiceClient.from_connection_string(conn))
    latest = wait_for("latest status", lambda: reader.latest_status(outbound_id))
    assert latest["status"] == "read"
    wait_for("image index row", lambda: reader.by_message(image_id))

    names = record_names(conn)
    assert len(names) == 6, names
    assert not [n for n in names if ".conflict-" in n]

    # The image: stored once, bytes identical to what the Graph stand-in served.
    media_blobs = list(
        BlobServiceClient.from_connection_string(conn).get_container_client(MEDIA_CONTAINER)
        .list_blobs()
    )
    assert len(media_blobs) == 1 and media_blobs[0].name.endswith(".jpg")
    blob = BlobServiceClient.from_connection_string(conn).get_blob_client(
        MEDIA_CONTAINER, media_blobs[0].name
    )
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == item.sha256
    image_record = json.loads(
        BlobServiceClient.from_connection_string(conn).get_blob_client(
            RECORDS_CONTAINER, reader.by_message(image_id)[0]["record_path"]
        ).download_blob().readall()
    )
    (media_entry,) = image_record["media"]
    assert media_entry["state"] == "stored" and media_entry["sha256"] == item.sha256

    # 1. by message: the outbound message and its three statuses together
    outbound_rows = [r for r in reader.by_message(outbound_id) if r["RowKey"] != "latest-status"]
    assert sorted(r.get("status") or r["event"] for r in outbound_rows) == [
        "delivered", "message", "read", "sent"
    ]
    assert len(reader.by_message(text_id)) == 1
    # 2. by participant, newest first
    timeline = reader.by_participant(CUSTOMER).rows
    assert [r["message_id"] for r in timeline] == [outbound_id, image_id, text_id]
    # 3. by conversation
    conversation = reader.by_conversation(webhooks.PHONE_NUMBER_ID, CUSTOMER).rows
    assert {r["message_id"] for r in conversation} >= {text_id, image_id}
    # 4. by day (provider time)
    day = datetime.fromtimestamp(T0, tz=UTC).date()
    day_ids = {r["message_id"] for r in reader.by_day(day, page_size=100).rows}
    assert {text_id, image_id} <= day_ids
    sent_day = datetime.fromtimestamp(sent_at, tz=UTC).date()
    assert outbound_id in {r["message_id"] for r in reader.by_day(sent_day, page_size=100).rows}
    # 5. failures: the signed-but-unparseable body is flagged, and kept in raw
    unparseable = wait_for("failure row", lambda: reader.failures("unparseable").rows)
    raw = BlobServiceClient.from_connection_string(conn).get_container_client(RAW_CONTAINER)
    assert raw.get_blob_client(unparseable[0]["ref"].split("#")[0]).exists()

    # Nothing at all for the forged webhook.
    assert reader.by_message(forged_id) == []
    forged_sha = hashlib.sha256(forged).hexdigest()
    assert not [b.name for b in raw.list_blobs() if forged_sha in b.name]
    assert item.downloads == 1

    # Every record re-proves from its signed raw body (Meta's HMAC, or the front
    # door's MAC for the outbound capture).
    blobs = BlobServiceClient.from_connection_string(conn)
    report = check_custody(
        blobs.get_container_client(RECORDS_CONTAINER), raw,
        {METHOD_META: [webhooks.APP_SECRET], METHOD_OUTBOUND: [webhooks.CUSTODY_MAC_KEY]},
    )
    assert (report.checked, report.verified, report.failed, report.retired) == (6, 6, [], [])
    methods = {json.loads(blobs.get_blob_client(RECORDS_CONTAINER, n).download_blob().readall())
               ["custody"]["method"] for n in names}
    assert methods == {METHOD_META, METHOD_OUTBOUND}


def test_storage_outage_answers_503_and_redelivery_is_archived(
    devhost: DevHostProcess, fresh_azurite: Azurite
) -> None:
    conn = fresh_azurite.connection_string
    reader = IndexReader(TableServiceClient.from_connection_string(conn))
    warm_up = f"wamid.{uuid.uuid4().hex}"
    assert send(devhost, webhooks.text_message(warm_up, CUSTOMER, T0 - 60)) == 200
    wait_for("warm-up record", lambda: reader.by_message(warm_up))
    # Azurite keeps metadata in memory and saves it every few seconds, so a SIGKILL could
    # lose the queues and tables just created. A clean restart saves them first; the kill
    # below is then an outage of storage, not a loss of the account.
    fresh_azurite.stop()
    fresh_azurite.start()

    wamid = f"wamid.{uuid.uuid4().hex}"
    doc = webhooks.text_message(wamid, CUSTOMER, T0)
    fresh_azurite.kill()
    try:
        assert send(devhost, doc) == 503
    finally:
        fresh_azurite.start()

    status = wait_for("redelivery accepted", lambda: (s := send(devhost, doc)) == 200 and s)
    assert status == 200
    rows = wait_for("archived record", lambda: reader.by_message(wamid))
    assert len(rows) == 1
    assert len(record_names(conn)) == 2
