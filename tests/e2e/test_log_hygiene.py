"""Logs carry ids and hashes only: no phone number, message text or blob path, end to end.

Application Insights keeps what the host logs for as long as the workspace does,
with none of the archive's access controls. Every kind of event (text, media with
a stored and a failed download, outbound capture, statuses, a handshake, a forged
webhook, an unparseable body) goes through the real function_app on devhost, and
then every line devhost logged is searched for the values that must never be there.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from archive.names import RECORDS_CONTAINER
from devhost.azurite import Azurite
from tests.e2e.pipeline_harness import FUNCTION_KEY, DevHostProcess, http, wait_for
from tests.e2e.pipeline_harness import send_webhook as send
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer

pytestmark = pytest.mark.e2e

CUSTOMER = "447700900123"
SECRET_WORDS = "quarterly-bonus-figures-do-not-share"
T0 = 1764158400


def test_no_phone_number_text_or_path_in_any_log_line(
    devhost: DevHostProcess, fresh_azurite: Azurite, media_server: MediaServer
) -> None:
    conn = fresh_azurite.connection_string
    image = media_server.add("media-ok", MediaItem(data=os.urandom(5000)))
    text_id, image_id, gap_id, out_id = (f"wamid.{uuid.uuid4().hex}" for _ in range(4))

    params = {"hub.mode": "subscribe", "hub.verify_token": webhooks.VERIFY_TOKEN,
              "hub.challenge": "12345"}
    query = "&".join(f"{k}={v}" for k, v in params.items())
    assert http("GET", f"{devhost.url}/api/webhooks/meta?{query}")[0] == 200
    assert send(devhost, webhooks.text_message(text_id, CUSTOMER, T0, SECRET_WORDS)) == 200
    assert send(devhost, webhooks.image_message(image_id, CUSTOMER, T0 + 1, "media-ok",
                                                image.sha256)) == 200
    # A media item the Graph stand-in does not know: retried, then recorded as a gap.
    assert send(devhost, webhooks.image_message(gap_id, CUSTOMER, T0 + 2, "media-gone")) == 200
    capture = {"message_id": out_id, "to": CUSTOMER, "from": webhooks.PHONE_NUMBER_ID,
               "timestamp": int(time.time()) - 5, "type": "text",
               "content": {"text": SECRET_WORDS}}
    assert http("POST", f"{devhost.url}/api/outbound", json.dumps(capture).encode(),
                {"Content-Type": "application/json", "x-functions-key": FUNCTION_KEY})[0] == 202
    assert send(devhost, webhooks.status(out_id, CUSTOMER, "read", T0 + 3)) == 200
    assert send(devhost, webhooks.text_message(f"wamid.{uuid.uuid4().hex}", CUSTOMER, T0,
                                               SECRET_WORDS), secret="a-wrong-secret-000") == 401
    assert send(devhost, b"signed but " + SECRET_WORDS.encode()) == 200

    records = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER
    )
    def five_records() -> list[str] | None:
        found = [b.name for b in records.list_blobs()]
        return found if len(found) >= 5 else None

    names = wait_for("five records", five_records, timeout=180)
    time.sleep(2)  # let the last activity's log lines reach the file

    log = devhost.log_path.read_text(errors="replace")
    assert "record stored" in log  # the pipeline did log, so silence is not the pass
    forbidden = {
        "customer phone number": CUSTOMER,
        "message text": SECRET_WORDS,
        "verify token": webhooks.VERIFY_TOKEN,
        "app secret": webhooks.APP_SECRET,
        "blob path": "year=",
        "record name": names[0].rsplit("/", 1)[-1],
    }
    leaks = {
        what: [line for line in log.splitlines() if value in line][:3]
        for what, value in forbidden.items()
        if value in log
    }
    assert leaks == {}
