"""Issue 15: the pipeline's metrics, driven end to end through devhost and read back from the
local exporter's files: counts match what was sent, and no dimension holds content, a
phone number, a message id or a blob path."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive import metrics as m
from devhost.azurite import Azurite
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess
from tests.e2e.pipeline_harness import send_webhook as send
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer
from tests.support.metrics import (
    assert_no_private_dimensions,
    local_dimensions,
    local_metrics_env,
    local_total,
    wait_for_local,
)

pytestmark = pytest.mark.e2e

CUSTOMER = "447700900456"
WORDS = "please-keep-this-between-us"
T0 = int(time.time()) - 120


@pytest.fixture
def metered(
    fresh_azurite: Azurite, media_server: MediaServer, tmp_path: Path
) -> Iterator[tuple[DevHostProcess, Path]]:
    ensure_archive_resources(fresh_azurite.connection_string)
    folder = tmp_path / "metrics"
    host = DevHostProcess(
        fresh_azurite.connection_string, media_server.base_url, tmp_path / "devhost.log",
        extra_env=local_metrics_env(folder),
    ).start()
    try:
        yield host, folder
    finally:
        host.stop()


def test_counts_match_the_events_sent_and_dimensions_stay_private(
    metered: tuple[DevHostProcess, Path], media_server: MediaServer
) -> None:
    host, folder = metered
    image = media_server.add("metrics-img", MediaItem(data=os.urandom(40_000)))
    texts = [f"wamid.{uuid.uuid4().hex}" for _ in range(3)]
    image_id, gap_id = f"wamid.{uuid.uuid4().hex}", f"wamid.{uuid.uuid4().hex}"
    sent = [webhooks.text_message(mid, CUSTOMER, T0 + i, WORDS) for i, mid in enumerate(texts)]
    sent += [
        webhooks.image_message(image_id, CUSTOMER, T0 + 10, "metrics-img", image.sha256),
        webhooks.image_message(gap_id, CUSTOMER, T0 + 11, "metrics-gone"),  # retried, a gap
        webhooks.status(texts[0], CUSTOMER, "delivered", T0 + 20),
    ]
    for doc in sent:
        assert send(host, doc) == 200
    assert send(host, sent[0]) == 200  # an exact redelivery: accepted, archived once
    forged = webhooks.text_message(f"wamid.{uuid.uuid4().hex}", CUSTOMER, T0, WORDS)
    assert send(host, forged, secret="not-the-app-secret") == 401

    archived = m.EVENTS_ARCHIVED.name
    assert wait_for_local(folder, archived, 6, timeout=120) == 6
    assert wait_for_local(folder, m.MEDIA_GAPS.name, 1, timeout=60) == 1
    time.sleep(1.5)  # three more export intervals: nothing is counted twice
    assert local_total(folder, archived) == 6
    assert local_total(folder, archived, provider="meta", event="message") == 5
    assert local_total(folder, archived, provider="meta", event="status") == 1
    assert local_total(folder, archived, type="image") == 2
    assert local_total(folder, m.MEDIA_BYTES.name, provider="meta") == len(image.data)
    assert local_total(folder, m.MEDIA_GAPS.name, provider="meta") == 1
    assert local_total(folder, m.LAG_RECEIPT.name) == 6  # a histogram's total: its count
    assert local_total(folder, m.LAG_PROVIDER.name) == 6
    assert local_total(folder, m.WEBHOOKS.name, provider="meta", outcome="accepted") == 7
    assert local_total(folder, m.WEBHOOKS.name, outcome="refused", reason="signature") == 1
    assert local_total(folder, m.INGEST_LATENCY.name) == 8

    dims = local_dimensions(folder)
    assert dims, "the exporter wrote no dimensions at all"
    assert_no_private_dimensions(
        dims, CUSTOMER, WORDS, webhooks.PHONE_NUMBER_ID, image_id, gap_id, *texts, "year="
    )
