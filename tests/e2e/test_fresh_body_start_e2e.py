"""The worker skips the status read for a body it just created (issue 14): the residual cases.

The same event inside a DIFFERENT body (other bytes, so its raw PUT answers 201) starts
without a status read; start_new then re-runs the Completed instance. The re-run must
archive nothing new: store_record finds the record by fingerprint (the instance id is
derived from it) and calls it a duplicate, with no conflict row and no second index
row. A redelivery of the first body (409, same bytes) keeps the read: nothing re-runs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from admin.durable_api import DurableApi, DurableSettings
from archive.identity import event_instance_id
from archive.names import INGEST_QUEUE, RAW_CONTAINER, RECORDS_CONTAINER
from archive.parsing import parse_body
from devhost.azurite import Azurite
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, send_webhook, wait_for
from tests.support import webhooks
from tests.support.media_server import MediaServer

pytestmark = pytest.mark.e2e

MASTER_KEY = "e2e-master-key"
T0 = 1764158400  # 2025-11-26T12:00:00Z


@pytest.fixture
def devhost(
    fresh_azurite: Azurite, media_server: MediaServer, tmp_path: Path
) -> Iterator[DevHostProcess]:
    ensure_archive_resources(fresh_azurite.connection_string)
    host = DevHostProcess(
        fresh_azurite.connection_string, media_server.base_url, tmp_path / "devhost.log",
        extra_env={"DEVHOST_MASTER_KEY": MASTER_KEY},
    ).start()
    try:
        yield host
    finally:
        host.stop()


def _completed(durable: DurableApi, instance_id: str, state: str) -> dict[str, Any] | None:
    status = durable.status(instance_id)
    if not status or status.get("runtimeStatus") != "Completed":
        return None
    output = status.get("output") or {}
    record = output.get("record") if isinstance(output, dict) else None
    return status if isinstance(record, dict) and record.get("state") == state else None


def _queue_drained(conn: str) -> bool:
    queue = QueueClient.from_connection_string(conn, INGEST_QUEUE)
    return queue.get_queue_properties().approximate_message_count == 0


def test_same_event_in_a_different_body_still_archives_one_record(
    devhost: DevHostProcess, fresh_azurite: Azurite
) -> None:
    conn = fresh_azurite.connection_string
    durable = DurableApi(DurableSettings(
        f"{devhost.url}/runtime/webhooks/durabletask", MASTER_KEY, "test"))
    customer = "1555" + str(uuid.uuid4().int % 10**7).zfill(7)
    wamid = f"wamid.{uuid.uuid4().hex}=="
    doc = webhooks.text_message(wamid, customer, T0)
    first = webhooks.body_of(doc)
    other = json.dumps(doc, indent=1).encode("utf-8")  # the same event, other bytes
    assert first != other
    (event,) = parse_body("meta", first, datetime.now(UTC)).events
    (same,) = parse_body("meta", other, datetime.now(UTC)).events
    instance_id = event_instance_id(event)
    assert event_instance_id(same) == instance_id

    assert send_webhook(devhost, first) == 200
    stored = wait_for("the first run", lambda: _completed(durable, instance_id, "stored"))

    # A new body (201): no status read, start_new re-runs the Completed instance.
    assert send_webhook(devhost, other) == 200
    # Its output says "duplicate": a second run happened (createdTime has whole seconds
    # only, so it may equal the first run's).
    rerun = wait_for("the re-run", lambda: _completed(durable, instance_id, "duplicate"))
    assert rerun["output"]["record"]["path"] == stored["output"]["record"]["path"]

    # A redelivery of the first body (409 + same bytes) reads the status: nothing re-runs.
    assert send_webhook(devhost, first) == 200
    wait_for("the redelivery handled", lambda: _queue_drained(conn))
    time.sleep(2)
    again = durable.status(instance_id)
    assert again is not None and again["createdTime"] == rerun["createdTime"]

    blobs = BlobServiceClient.from_connection_string(conn)
    records = [b.name for b in blobs.get_container_client(RECORDS_CONTAINER).list_blobs()]
    assert records == [stored["output"]["record"]["path"]]  # one record, no conflict sibling
    assert len(list(blobs.get_container_client(RAW_CONTAINER).list_blobs())) == 2
    reader = IndexReader(TableServiceClient.from_connection_string(conn))
    assert reader.failures("conflict").rows == []
    assert [r["record_path"] for r in reader.by_message(wamid)] == records
    assert [r["record_path"] for r in reader.by_participant(customer).rows] == records
    assert [r["record_path"] for r in reader.by_conversation(
        webhooks.PHONE_NUMBER_ID, customer).rows] == records
