"""Media-gap replay and audit attribution on real Azurite (activities invoked directly)."""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from admin.actions import audited_replay
from admin.audit import recent_entries, record_action
from admin.connection import AdminError, Archive
from admin.detail import message_detail
from admin.failures import Failure, failures
from archive.names import (
    INGEST_POISON_QUEUE,
    INGEST_QUEUE,
    MEDIA_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_GRAPH_URL,
)
from orchestrations.recovery import addendum_blob_name, refetch_input, store_media_recovery
from orchestrations.steps import fetch_media_item
from storage.refetch_request import RefetchRequest, decode_refetch, encode_refetch
from tests.admin import seed
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer

pytestmark = pytest.mark.azurite


@pytest.fixture
def media_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MediaServer]:
    server = MediaServer().start()
    monkeypatch.setenv(SETTING_GRAPH_URL, server.base_url)
    try:
        yield server
    finally:
        server.stop()


def gap_of(archive: Archive, wamid: str) -> Failure:
    return next(f for f in failures(archive)
                if f.kind == "media_unavailable" and f.detail["message_id"] == wamid)


def test_audit_names_the_os_user_locally(archive: Archive) -> None:
    entry = record_action(archive, "search", {"query": {"participant": "x"}}, "ok")
    assert entry.entry["who"].startswith(f"{getpass.getuser()}@")
    assert recent_entries(archive)[0].entry["who"] == entry.entry["who"]


def test_media_gap_replay_queues_a_refetch_that_recovers_the_media(
    archive: Archive, media_server: MediaServer
) -> None:
    wamid, media_id = seed.new_wamid(), f"m/{os.urandom(4).hex()}+="
    now = int(datetime.now(UTC).timestamp())
    seed.archive_body(webhooks.image_message(wamid, seed.new_customer(), now, media_id),
                      media_error="media URL expired (HTTP 404)")
    gap = gap_of(archive, wamid)
    record_path = str(gap.detail["record_path"])
    original = archive.container(RECORDS_CONTAINER).download_blob(record_path).readall()

    result = audited_replay(archive, ids=[gap.id])
    assert result.refetching == [gap.id] and result.replayed == []
    (message,) = archive.queue(INGEST_QUEUE).receive_messages(max_messages=1)
    request = decode_refetch(base64.b64decode(message.content))  # the host decodes base64
    assert request is not None
    assert (request.record_path, request.media_id) == (record_path, media_id)
    assert request.requested_by.startswith(getpass.getuser())
    audit = recent_entries(archive)[0].entry
    assert audit["action"] == "replay" and audit["target"]["refetching"] == [gap.id]

    # What the queue worker and the refetch_media orchestration then do.
    item = media_server.add(media_id, MediaItem(data=os.urandom(2048)))
    payload = refetch_input(request)
    assert payload["event"]["content"] == {}  # no message content in Durable history
    media = fetch_media_item({"event": payload["event"], "media_index": payload["media_index"]})
    stored = store_media_recovery({**payload, "media": media,
                                   "recovered_at": "2026-01-01T00:00:00+00:00"})
    assert stored["path"] == addendum_blob_name(record_path, media_id)
    again = store_media_recovery({**payload, "media": media,
                                  "recovered_at": "2026-01-02T00:00:00+00:00"})
    assert again["state"] == "duplicate"  # a re-run activity never conflicts

    blob = archive.container(MEDIA_CONTAINER).download_blob(media["blob_path"]).readall()
    assert hashlib.sha256(blob).hexdigest() == item.sha256
    addendum = json.loads(
        archive.container(RECORDS_CONTAINER).download_blob(stored["path"]).readall())
    assert addendum["record"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert archive.container(RECORDS_CONTAINER).download_blob(
        record_path).readall() == original
    assert all(f.id != gap.id for f in failures(archive))
    (shown,) = message_detail(archive, wamid).media
    assert (shown["state"], shown["sha256"]) == ("recovered", item.sha256)
    assert shown["recovery_path"] == stored["path"]
    with pytest.raises(AdminError, match="already resolved"):
        audited_replay(archive, ids=[gap.id])


def test_replay_rejects_unknown_ids_and_restarts_without_a_durable_api(archive: Archive) -> None:
    with pytest.raises(AdminError, match="only poison messages"):
        audited_replay(archive, ids=["conflict:2026-01-01-abc"])
    with pytest.raises(AdminError, match="needs the Durable API"):
        audited_replay(archive, ids=["orchestration:abc"])
    with pytest.raises(AdminError, match="no media gap"):
        audited_replay(archive, ids=["media_unavailable:2026-01-01-none"])
    results = [e.entry["result"] for e in recent_entries(archive)
               if e.entry.get("phase") == "outcome"][:3]
    assert len(results) == 3
    assert all(r.startswith("error: ") for r in results)


def test_a_poisoned_refetch_request_is_described_in_failures(archive: Archive) -> None:
    request = RefetchRequest("year=2026/gone.json", "m1", "2026-01-01-x", "ann", "t")
    text = base64.b64encode(encode_refetch(request).encode()).decode()
    archive.queue(INGEST_POISON_QUEUE).send_message(text)
    (poisoned,) = [f for f in failures(archive) if f.kind == "poison"]
    assert poisoned.reason.startswith("media refetch request failed")
    assert poisoned.detail["refetch"]["record_path"] == "year=2026/gone.json"
