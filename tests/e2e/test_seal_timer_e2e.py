"""End to end: the seal timer in devhost seals yesterday (and the rescan window) on its own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from archive.names import (
    RECORDS_CONTAINER,
    SEALS_CONTAINER,
    SETTING_MANIFEST_KEY_ID,
    SETTING_SEAL_SCHEDULE,
    SETTING_VERIFY_SCHEDULE,
)
from archive.seal import RESCAN_DAYS, day_prefix
from devhost.azurite import Azurite
from storage.sealing import SealChain
from storage.signing import generate_key_file, load_key_file, verify_es256
from storage.verification import verify_archive
from storage.verification_run import latest_report
from tests.e2e.pipeline_harness import DevHostProcess, wait_for
from tests.e2e.pipeline_harness import send_webhook as send
from tests.support import webhooks
from tests.support.media_server import MediaServer

pytestmark = pytest.mark.e2e


def test_the_timer_seals_yesterday_and_verify_is_clean(
    devhost: DevHostProcess, fresh_azurite: Azurite, media_server: MediaServer, tmp_path: Path
) -> None:
    conn = fresh_azurite.connection_string
    blobs = BlobServiceClient.from_connection_string(conn)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    ts = int(datetime.combine(yesterday, time(12), tzinfo=UTC).timestamp())
    assert send(devhost, webhooks.text_message(f"wamid.{uuid.uuid4().hex}", "15551234567",
                                               ts)) == 200
    records = blobs.get_container_client(RECORDS_CONTAINER)
    record = wait_for("the record", lambda: next(
        iter(records.list_blobs(name_starts_with=day_prefix(yesterday))), None))
    devhost.stop()  # the stack's schedule is once a year; restart with a busy one

    key_file = tmp_path / "seal.pem"
    generate_key_file(key_file)
    host = DevHostProcess(conn, media_server.base_url, tmp_path / "devhost2.log", extra_env={
        SETTING_MANIFEST_KEY_ID: f"file:{key_file}", SETTING_SEAL_SCHEDULE: "*/2 * * * * *",
        SETTING_VERIFY_SCHEDULE: "*/3 * * * * *",
    }).start()
    try:
        chain = SealChain(blobs.get_container_client(SEALS_CONTAINER))
        entries = wait_for("the seals of the window", lambda: (
            entries if len(entries := chain.entries()) >= RESCAN_DAYS + 1 else None))
        report = wait_for("the verification report", lambda: latest_report(blobs))
    finally:
        host.stop()
    seals = [stored for _, stored in chain.documents(entries)]
    assert len(seals) == RESCAN_DAYS + 1  # one instance per day: later firings add nothing
    assert [s.seal.day for s in seals] == [yesterday - timedelta(days=n)
                                           for n in range(RESCAN_DAYS, -1, -1)]
    assert {s.seal.kind for s in seals} == {"primary"}
    assert ("records", record.name) in {leaf.key for leaf in seals[-1].seal.leaves}
    # The timer's run (whenever it started relative to the seals) found nothing wrong.
    assert report["ok"] is True and report["run"] == f"verify-{datetime.now(UTC).date()}"
    public = load_key_file(key_file).public_key()
    full = verify_archive(blobs, lambda d, s: verify_es256(public, d, s))
    assert full.ok, full.findings
