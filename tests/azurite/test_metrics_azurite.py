"""Metrics from the non-contended paths on a real Azurite: seal, verify, retention
(disposals, holds kept), poison drained to `deadletter`, quarantine, queue backlog and
unresolved settings. Records are archived through the pipeline code; a private Azurite
keeps the archive-wide seal chain to the test."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from archive import metrics as m
from archive.holds import new_matter
from archive.names import INGEST_POISON_QUEUE, INGEST_QUEUE, RAW_CONTAINER, RECORDS_CONTAINER
from archive.scope import Scope
from devhost.azurite import Azurite
from storage.clients import blob_service, queue_client, table_service
from storage.deadletter import drain_poison
from storage.holds import HoldStore
from storage.observe import observe_queues, observe_settings
from storage.quarantine import quarantine
from storage.retention_run import run_retention
from storage.sealing import seal_day
from storage.signing import generate_key_file, load_key_file, verify_es256
from storage.verification import verify_archive
from tests.support import webhooks
from tests.support.envelopes import meta_envelope, store_envelope
from tests.support.metrics import Collected, assert_no_private_dimensions, metrics
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite
__all__ = ["metrics"]

DAY = date(2024, 3, 10)
NOW = datetime(2024, 3, 12, 6, tzinfo=UTC)
HELD, FREE = "15550000001", "15550000002"


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def text(sender: str) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    body = webhooks.body_of(webhooks.text_message(wamid, sender, int(at(DAY).timestamp())))
    (result,) = store_envelope(meta_envelope(body, at(DAY)))
    assert result["state"] == "stored"


@pytest.fixture
def blobs(monkeypatch: pytest.MonkeyPatch, fresh_azurite: Azurite) -> BlobServiceClient:
    use_archive(monkeypatch, fresh_azurite.connection_string)
    return blob_service()


def test_seal_verify_and_retention_emit_their_outcomes(
        blobs: BlobServiceClient, metrics: Collected, tmp_path: Path) -> None:
    key_file = tmp_path / "seal-key.pem"
    generate_key_file(key_file)
    signer = load_key_file(key_file)
    text(HELD)
    text(FREE)
    text(FREE)

    assert seal_day(blobs, signer, DAY).kind == "primary"
    assert seal_day(blobs, signer, DAY).kind is None
    assert metrics.total(m.SEALS.name, outcome="sealed") == 1
    assert metrics.total(m.SEALS.name, outcome="unchanged") == 1

    public = signer.public_key()
    assert verify_archive(blobs, lambda d, s: verify_es256(public, d, s),
                          tables=table_service()).ok
    assert metrics.total(m.VERIFICATIONS.name, outcome="passed") == 1

    tables = table_service()
    HoldStore(tables).place(new_matter("M-1", Scope(participant=HELD), "litigation",
                                       "counsel@example.com", NOW))
    report = run_retention(blobs, tables, retention_days=1, now=NOW, clock=lambda: NOW)
    (run,) = report.runs
    deleted = run["counts"]["deleted"]
    assert deleted[RECORDS_CONTAINER] == 2 and deleted[RAW_CONTAINER] == 2
    assert metrics.total(m.DISPOSALS.name, container=RECORDS_CONTAINER) == 2
    assert metrics.total(m.DISPOSALS.name, container=RAW_CONTAINER) == 2
    assert metrics.total(m.DISPOSALS.name) == sum(deleted.values())
    assert metrics.total(m.HOLDS.name, outcome="retained") >= 1  # the held record
    assert_no_private_dimensions(metrics.all_dimensions(), HELD, FREE, "wamid.")


def test_poison_quarantine_and_gauges(
        blobs: BlobServiceClient, metrics: Collected, monkeypatch: pytest.MonkeyPatch,
        fresh_azurite: Azurite) -> None:
    azurite_conn = fresh_azurite.connection_string
    ingest, poison = queue_client(INGEST_QUEUE), queue_client(INGEST_POISON_QUEUE)
    for index in range(3):
        poison.send_message(f"poison {index}")
    ingest.send_message("waiting")
    observe_queues([ingest, poison], now=datetime.now(UTC) + timedelta(seconds=30))
    assert metrics.total(m.QUEUE_DEPTH.name, queue=INGEST_POISON_QUEUE) == 3
    assert metrics.total(m.QUEUE_DEPTH.name, queue=INGEST_QUEUE) == 1
    (age,) = [p.value for p in metrics.points(m.QUEUE_OLDEST_AGE.name)
              if p.dims == {"queue": INGEST_QUEUE}]
    assert 25 <= age <= 120

    # A message the client cannot decode: the depth still counts, the age is not made up.
    raw = QueueClient.from_connection_string(azurite_conn, INGEST_QUEUE)
    raw.clear_messages()
    raw.send_message("not base64 %%")
    observe_queues([ingest])
    assert metrics.total(m.QUEUE_DEPTH.name, queue=INGEST_QUEUE) == 1

    result = drain_poison(poison, blobs.get_container_client("deadletter"), table_service())
    assert result.drained == 3
    assert metrics.total(m.POISON.name, kind="deadletter") == 3
    observe_queues([poison])
    assert metrics.total(m.QUEUE_DEPTH.name, queue=INGEST_POISON_QUEUE) == 0

    body = b'{"from": "+15551234567", "text": "forged"}'
    quarantine(blobs, table_service(), body, reason="signature", origin="worker", at=NOW)
    quarantine(blobs, table_service(), body, reason="signature", origin="worker", at=NOW)
    assert metrics.total(m.POISON.name, kind="quarantine") == 1  # stored once, counted once

    monkeypatch.setenv("WASENDER_API_KEY", "@Microsoft.KeyVault(SecretUri=https://v/x)")
    assert "WASENDER_API_KEY" in observe_settings()
    assert metrics.total(m.SETTINGS_UNRESOLVED.name, setting="WASENDER_API_KEY") == 1
    assert_no_private_dimensions(metrics.all_dimensions(), "15551234567", "forged",
                                 "SecretUri")
