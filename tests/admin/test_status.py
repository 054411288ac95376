"""`wa-archive status` on a real Azurite, seeded through the pipeline's own code.

The checks count everything in the account (every failure row, every seal), so these
tests run on an Azurite of their own, emptied before each test. The clock is injected
(`at`) where a rule depends on the day; the queue-age warning uses a real wait and a
1-second threshold, since Storage sets a message's insertion time itself.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from admin.connection import Archive, open_archive
from admin.status import status
from archive.health import Thresholds
from archive.names import (
    INGEST_POISON_QUEUE,
    INGEST_QUEUE,
    RAW_CONTAINER,
    SEALS_CONTAINER,
    TABLE_BY_DAY,
    TABLE_FAILURES,
)
from cli.main import main
from devhost.azurite import Azurite
from storage.clients import blob_service, queue_client, table_service
from storage.deadletter import drain_poison
from storage.sealing import seal_day
from storage.signing import LocalSigner, generate_key_file, load_key_file
from storage.verification_run import verify_chain_part, write_report
from tests.admin.seed import archive_body, new_customer, new_wamid, poison
from tests.support import webhooks
from tests.support.envelopes import enqueue_signed, meta_envelope
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

# Far from any real day, so "yesterday" is a day no other code seals.
AT = datetime(2031, 3, 12, 9, 0, tzinfo=UTC)
YESTERDAY = date(2031, 3, 11)
DAILY = Thresholds(seal_schedule="0 30 1 * * *")


@pytest.fixture(scope="module")
def own_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    emulator = Azurite(tmp_path_factory.mktemp("status-azurite"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> LocalSigner:
    key_file = tmp_path_factory.mktemp("status-key") / "seal-key.pem"
    generate_key_file(key_file)
    return load_key_file(key_file)


def _empty_the_account() -> None:
    for name in (INGEST_QUEUE, INGEST_POISON_QUEUE):
        queue_client(name).clear_messages()
    tables = table_service()
    for table in (TABLE_FAILURES, TABLE_BY_DAY):
        client = tables.get_table_client(table)
        for row in client.list_entities(select=["PartitionKey", "RowKey"]):
            client.delete_entity(row["PartitionKey"], row["RowKey"])
    seals = blob_service().get_container_client(SEALS_CONTAINER)
    for blob in seals.list_blobs():
        seals.delete_blob(blob.name)


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, own_azurite: Azurite, tmp_path: Path) -> Archive:
    use_archive(monkeypatch, own_azurite.connection_string)
    monkeypatch.setenv("WA_ARCHIVE_DATA_DIR", str(tmp_path / "no-data"))
    _empty_the_account()
    return open_archive()


def _seal(signer: LocalSigner, *days: date) -> None:
    for day in days:
        seal_day(blob_service(), signer, day, now=AT)


def _verify(signer: LocalSigner, run_day: date) -> None:
    chain = verify_chain_part(blob_service(), table_service(), lambda: signer, run_day, AT)
    write_report(blob_service(), run_day, [chain], AT)


def _levels(archive: Archive, at: datetime = AT, th: Thresholds = DAILY) -> dict[str, str]:
    return {c.name: c.level for c in status(archive, at, th).checks}


def _image_gap() -> list[str]:
    """A media gap, as the orchestration records one after the media fetch failed."""
    doc = webhooks.image_message(new_wamid(), new_customer(), int(time.time()), "media-1")
    return archive_body(doc, media_error="media URL expired (HTTP 404)")


def test_healthy_archive_is_ok(archive: Archive, signer: LocalSigner) -> None:
    _seal(signer, YESTERDAY - timedelta(days=1), YESTERDAY)
    _verify(signer, AT.date())
    health = status(archive, AT, DAILY)
    assert {c.name: c.level for c in health.checks} == dict.fromkeys(
        [c.name for c in health.checks], "ok")
    assert health.exit_code == 0
    seal = {c.name: c for c in health.checks}["seal"]
    assert seal.value == YESTERDAY.isoformat()
    assert seal.to_json()["last_written"] is not None
    verification = {c.name: c for c in health.checks}["verification"]
    assert verification.value == "passed"
    assert verification.to_json()["run"] == f"verify-{AT.date().isoformat()}"


def test_a_poison_message_is_critical(archive: Archive, signer: LocalSigner) -> None:
    _seal(signer, YESTERDAY)
    poison(webhooks.text_message(new_wamid(), new_customer(), int(time.time())))
    health = status(archive, AT, DAILY)
    assert {c.name: c.level for c in health.checks}["ingest_poison"] == "crit"
    assert health.exit_code == 2


def test_a_drained_dead_letter_is_critical_until_replayed(
    archive: Archive, signer: LocalSigner
) -> None:
    _seal(signer, YESTERDAY)
    poison(webhooks.text_message(new_wamid(), new_customer(), int(time.time())))
    drain_poison(queue_client(INGEST_POISON_QUEUE),
                 blob_service().get_container_client("deadletter"), table_service())
    got = _levels(archive)
    assert got["ingest_poison"] == "ok"
    assert got["deadletter"] == "crit"


def test_a_missed_seal_is_critical(archive: Archive, signer: LocalSigner) -> None:
    _seal(signer, YESTERDAY - timedelta(days=1))  # the day before yesterday only
    assert _levels(archive, AT.replace(hour=3, minute=0))["seal"] == "ok"  # not due yet
    health = status(archive, AT, DAILY)
    seal = {c.name: c for c in health.checks}["seal"]
    assert seal.level == "crit" and health.exit_code == 2
    assert seal.value == (YESTERDAY - timedelta(days=1)).isoformat()
    assert f"{YESTERDAY.isoformat()} has no seal" in seal.summary


def test_a_failed_verification_is_critical(archive: Archive, signer: LocalSigner) -> None:
    _seal(signer, YESTERDAY)
    # A report whose parts found something, as write_report sums them.
    write_report(blob_service(), AT.date(), [{"part": "seals", "findings": 2, "seals": 2}], AT)
    health = status(archive, AT, DAILY)
    verification = {c.name: c for c in health.checks}["verification"]
    assert verification.level == "crit" and verification.to_json()["findings"] == 2
    assert health.exit_code == 2


def test_an_old_ingest_message_warns(archive: Archive, signer: LocalSigner) -> None:
    _seal(signer, YESTERDAY)
    _verify(signer, AT.date())
    body = webhooks.body_of(webhooks.text_message(new_wamid(), new_customer(), int(time.time())))
    enqueue_signed(meta_envelope(body), queue_client(INGEST_QUEUE),
                   blob_service().get_container_client(RAW_CONTAINER))
    time.sleep(2.1)  # insertion times have a one-second resolution
    now = datetime.now(UTC)
    relaxed = _levels(archive, now, Thresholds(seal_schedule="0 0 0 1 1 *"))
    assert relaxed["ingest_age"] == "ok"  # 10 minutes by default
    health = status(archive, now, Thresholds(max_queue_age_seconds=1,
                                            seal_schedule="0 0 0 1 1 *"))
    got = {c.name: c for c in health.checks}
    assert got["ingest_age"].level == "warn" and got["ingest_age"].value >= 1
    assert got["ingest_depth"].value == 1
    assert health.exit_code == 1


def test_media_gaps_warn_and_records_show_the_lag(archive: Archive) -> None:
    _image_gap()
    now = datetime.now(UTC)
    health = status(archive, now, Thresholds(seal_schedule="0 0 0 1 1 *"))
    got = {c.name: c for c in health.checks}
    assert got["failures"].level == "warn"
    assert got["failures"].to_json()["by_kind"]["media_unavailable"] == 1
    assert got["lag"].level == "ok" and got["lag"].value is not None
    assert 0 <= got["lag"].value < 300
    assert health.exit_code == 1


def test_cli_status_human_and_json(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["status", "--seal-schedule", "0 0 0 1 1 *"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("OK    ingest_depth")
    assert out[-1] == "status OK: 9 checks, 9 ok, 0 warn, 0 crit"
    poison(webhooks.text_message(new_wamid(), new_customer(), int(time.time())))
    paths = _image_gap()
    assert main([*args, "--json"]) == 2
    text = capsys.readouterr().out
    doc = json.loads(text)
    assert doc["level"] == "crit" and doc["exit_code"] == 2
    assert doc["checks"]["ingest_poison"] == {
        "level": "crit", "value": 1, "threshold": 0,
        "summary": "1 message(s) in ingest-poison",
        "runbook": "docs/operations.md#ingest_poison",
    }
    assert doc["checks"]["failures"]["level"] == "warn"
    # Counts, ages and days only: no blob path, participant or content.
    for path in paths:
        assert path not in text
    assert "year=" not in text and "wamid" not in text and "1555" not in text
    assert main([*args]) == 2
    human = capsys.readouterr().out
    assert "CRIT  ingest_poison  1 message(s) in ingest-poison" in human
    assert "WARN  failures" in human
    assert human.splitlines()[-1] == "status CRIT: 9 checks, 7 ok, 1 warn, 1 crit"


def test_cli_status_unreachable_account_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ARCHIVE_STORAGE", "DefaultEndpointsProtocol=http;AccountName="
                       "devstoreaccount1;AccountKey=" + "QUJD" * 22 + ";"
                       f"QueueEndpoint=http://127.0.0.1:9/{uuid.uuid4().hex[:6]};"
                       "TableEndpoint=http://127.0.0.1:9/t;BlobEndpoint=http://127.0.0.1:9/b;")
    assert main(["status"]) == 2
    assert "wa-archive status: cannot reach" in capsys.readouterr().err


def test_an_old_verification_is_found_and_warns(archive: Archive, signer: LocalSigner) -> None:
    _seal(signer, YESTERDAY)
    old_run = date(2031, 1, 5)  # before last month: found by the full listing
    write_report(blob_service(), old_run, [], AT - timedelta(days=66))
    verification = {c.name: c for c in status(archive, AT, DAILY).checks}["verification"]
    assert verification.level == "warn"
    assert verification.to_json()["run"] == "verify-2031-01-05"
