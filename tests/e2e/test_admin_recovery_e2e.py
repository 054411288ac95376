"""End to end on devhost + Azurite: a media gap is recovered without touching the record,
and a failed orchestration is listed (Durable HTTP API) and restarted with its input."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from admin.actions import audited_replay
from admin.connection import Archive, open_archive
from admin.dashboard import dashboard
from admin.durable_api import (
    SETTING_DURABLE_KEY,
    SETTING_DURABLE_URL,
    DurableApi,
    DurableApiError,
    DurableSettings,
)
from admin.failures import failures, index_failures, orchestration_failures
from archive.identity import event_instance_id
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.parsing import parse_body
from cli.main import main as cli_main
from devhost.azurite import Azurite
from ingest.worker import orchestration_input
from orchestrations.archive_event import ORCHESTRATOR
from orchestrations.recovery import RECOVERY_SCHEMA, addendum_blob_name
from storage.provision import ensure_archive_resources
from storage.raw_bodies import store_raw
from tests.e2e.pipeline_harness import DevHostProcess, http, wait_for
from tests.support import webhooks
from tests.support.envelopes import custody_of, meta_envelope
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.e2e

MASTER_KEY = "e2e-master-key"
CUSTOMER = "15557654321"


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


@pytest.fixture
def archive(
    monkeypatch: pytest.MonkeyPatch, fresh_azurite: Azurite, devhost: DevHostProcess,
    media_server: MediaServer,
) -> Archive:
    use_archive(monkeypatch, fresh_azurite.connection_string, media_server.base_url)
    monkeypatch.setenv(SETTING_DURABLE_URL, f"{devhost.url}/runtime/webhooks/durabletask")
    monkeypatch.setenv(SETTING_DURABLE_KEY, MASTER_KEY)
    return open_archive()


def durable_for(host: DevHostProcess, key: str = MASTER_KEY) -> DurableApi:
    return DurableApi(DurableSettings(f"{host.url}/runtime/webhooks/durabletask", key, "test"))


def send(host: DevHostProcess, doc: dict[str, object]) -> int:
    body = webhooks.body_of(doc)
    status, _ = http("POST", f"{host.url}/api/webhooks/meta", body,
                     webhooks.signed_headers(body))
    return status


def read(archive: Archive, container: str, name: str) -> bytes:
    return archive.container(container).download_blob(name).readall()


def test_media_gap_replay_stores_media_and_addendum_and_closes_the_gap(
    archive: Archive, devhost: DevHostProcess, media_server: MediaServer
) -> None:
    wamid = f"wamid.HBgL/{uuid.uuid4().hex}+g=="
    media_id = "gap/1+="
    item = media_server.add(media_id, MediaItem(data=os.urandom(50_000), always_404=True))
    now = int(datetime.now(UTC).timestamp())
    assert send(devhost, webhooks.image_message(wamid, CUSTOMER, now, media_id)) == 200

    gap = wait_for("media gap", lambda: [
        f for f in failures(archive)
        if f.kind == "media_unavailable" and f.detail.get("message_id") == wamid
    ])[0]
    record_path = str(gap.detail["record_path"])
    original = read(archive, RECORDS_CONTAINER, record_path)
    assert json.loads(original)["media"][0]["state"] == "unavailable"

    item.always_404 = False  # the provider serves the media again
    result = audited_replay(archive, ids=[gap.id])
    assert result.refetching == [gap.id]

    def resolved() -> list[object]:
        rows = index_failures(archive, ("media_unavailable",), include_resolved=True)
        return [r for r in rows if r.id == gap.id and r not in failures(archive)]

    wait_for("gap resolved", lambda: resolved() and not any(
        f.id == gap.id for f in failures(archive)))

    addendum_name = addendum_blob_name(record_path, media_id)
    addendum = json.loads(read(archive, RECORDS_CONTAINER, addendum_name))
    assert addendum["schema"] == RECOVERY_SCHEMA
    assert addendum["record"] == {"path": record_path,
                                  "sha256": hashlib.sha256(original).hexdigest()}
    assert addendum["media"]["sha256"] == item.sha256
    assert addendum["media"]["size"] == len(item.data)
    media = read(archive, MEDIA_CONTAINER, addendum["media"]["blob_path"])
    assert hashlib.sha256(media).hexdigest() == item.sha256
    assert read(archive, RECORDS_CONTAINER, record_path) == original  # immutable

    row = archive.tables.get_table_client("IndexFailures").get_entity(
        "media_unavailable", str(gap.row_key))
    assert row["resolved"] is True and row["resolution_path"] == addendum_name

    durable = durable_for(devhost)
    counts = dashboard(archive, durable=durable).orchestrations
    assert counts is not None and counts["Completed"] >= 2  # archive_event + refetch_media
    assert dashboard(archive, durable=durable).failures["media_unavailable"] == 0


def test_failed_orchestration_is_listed_and_restarted_with_its_input(
    archive: Archive, devhost: DevHostProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    durable = durable_for(devhost)
    wamid = f"wamid.{uuid.uuid4().hex}=="
    body = webhooks.body_of(webhooks.text_message(wamid, CUSTOMER, 1764158400))
    envelope = meta_envelope(body, datetime.now(UTC))
    (event,) = parse_body("meta", body, envelope.received_at).events
    payload = orchestration_input(envelope, event, 0)
    # A pointer input whose raw body is not written yet: store_record fails.
    payload["event_ref"] = {"source": "meta", "index": 0, "instance_id": event_instance_id(event)}
    instance_id = event_instance_id(event)
    durable.start(ORCHESTRATOR, instance_id, payload)

    failed = wait_for("failed orchestration", lambda: [
        f for f in orchestration_failures(durable) if f.ref == instance_id])[0]
    assert failed.id == f"orchestration:{instance_id}"
    assert "store_record" in failed.reason
    assert (durable.counts(datetime(2000, 1, 1, tzinfo=UTC)))["Failed"] >= 1

    assert cli_main(["failures", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(f["id"] == failed.id and f["reason"] == failed.reason for f in listed)

    # Cause fixed: the worker's write of the signed body, custody metadata included.
    store_raw(archive.container(RAW_CONTAINER), envelope.raw_path, body, custody_of(envelope),
              "meta")
    assert cli_main(["replay", "--id", failed.id]) == 0
    assert f"restarted orchestration {instance_id}" in capsys.readouterr().out
    done = wait_for("restarted instance completes", lambda: (
        s := durable.status(instance_id)) and s["runtimeStatus"] == "Completed" and s)
    assert done["input"] == payload
    assert instance_id not in [f.ref for f in orchestration_failures(durable)]
    record = done["output"]["record"]["path"]
    assert json.loads(read(archive, RECORDS_CONTAINER, record))["message_id"] == wamid

    with pytest.raises(DurableApiError, match="refused the key"):
        durable_for(devhost, key="wrong").failed(datetime(2000, 1, 1, tzinfo=UTC))
