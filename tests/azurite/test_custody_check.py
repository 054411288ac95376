"""`wa-archive custody check` on Azurite: passes on what the pipeline archived, names tampering."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from admin.custody import CustodyReport, check_custody
from archive.custody import METHOD_META, METHOD_OUTBOUND
from archive.names import RAW_CONTAINER, RECORDS_CONTAINER, SETTING_APP_SECRET
from cli.main import main
from tests.support import webhooks
from tests.support.envelopes import (
    meta_envelope,
    outbound_capture,
    outbound_envelope,
    store_envelope,
)
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

SECRETS: dict[str, list[str]] = {
    METHOD_META: [webhooks.APP_SECRET], METHOD_OUTBOUND: [webhooks.CUSTODY_MAC_KEY]
}


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> BlobServiceClient:
    use_archive(monkeypatch, azurite_conn)
    return BlobServiceClient.from_connection_string(azurite_conn)


# Consecutive days from a random start: two tests never share a day (a random day each
# collided about one run in twelve, and the check then counted the other test's records).
_DAYS = itertools.count(date(2021, 1, 1).toordinal() + uuid.uuid4().int % 300)


def a_day() -> tuple[date, int]:
    """A record day of its own (records sit under their event day), and a unix time on it."""
    day = date.fromordinal(next(_DAYS))
    return day, int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp())


def check(archive: BlobServiceClient, day: date, secrets: dict[str, list[str]] = SECRETS
          ) -> CustodyReport:
    return check_custody(
        archive.get_container_client(RECORDS_CONTAINER),
        archive.get_container_client(RAW_CONTAINER), secrets, start=day, end=day,
    )


def containers(archive: BlobServiceClient) -> tuple[ContainerClient, ContainerClient]:
    return (archive.get_container_client(RECORDS_CONTAINER),
            archive.get_container_client(RAW_CONTAINER))


def archive_text(day_ts: int, text: str = "hello", secret: str = webhooks.APP_SECRET) -> str:
    wamid = f"wamid.{uuid.uuid4().hex}"
    body = webhooks.body_of(webhooks.text_message(wamid, "15551234567", day_ts, text))
    (result,) = store_envelope(meta_envelope(body, secret=secret))
    return str(result["path"])


def test_pipeline_records_all_verify(archive: BlobServiceClient) -> None:
    day, ts = a_day()
    archive_text(ts)
    status = webhooks.body_of(webhooks.status(f"wamid.{uuid.uuid4().hex}", "1555", "read", ts))
    store_envelope(meta_envelope(status))
    received = datetime.fromtimestamp(ts + 5, tz=UTC)
    capture = outbound_capture(f"wamid.{uuid.uuid4().hex}", webhooks.PHONE_NUMBER_ID, "1555",
                               datetime.fromtimestamp(ts, tz=UTC))
    store_envelope(outbound_envelope(capture, received))

    report = check(archive, day)

    assert (report.checked, report.verified, report.failed) == (3, 3, [])


def test_retired_secret_is_reported_not_passed_silently(archive: BlobServiceClient) -> None:
    day, ts = a_day()
    path = archive_text(ts, secret=webhooks.RETIRED_SECRET)  # accepted during a rotation

    report = check(archive, day)  # the check holds only the current secret

    assert report.failed == [] and [r.path for r in report.retired] == [path]
    assert report.ok() and not report.ok(strict=True)


def test_altered_raw_body_is_named(archive: BlobServiceClient) -> None:
    day, ts = a_day()
    path = archive_text(ts)
    records, raw = containers(archive)
    raw_path = json.loads(records.download_blob(path).readall())["raw"]["path"]
    original = raw.download_blob(raw_path)
    tampered = original.readall().replace(b"hello", b"hellO")
    # Azurite has no WORM: an overwrite with the metadata kept is what tampering looks like.
    raw.upload_blob(raw_path, tampered, overwrite=True,
                    metadata=dict(original.properties.metadata))

    report = check(archive, day)

    (failed,) = report.failed
    assert failed.path == path and "sha256 differs" in failed.problems[0]


def test_record_that_no_signed_body_backs_is_named(archive: BlobServiceClient) -> None:
    day, ts = a_day()
    genuine = archive_text(ts)
    records, _ = containers(archive)
    record = json.loads(records.download_blob(genuine).readall())
    # An insider writes a record of their own, pointing at a genuine, signed raw body.
    forged_path = genuine.replace(".json", "-x.json").replace(
        record["message_id"].replace(".", "~2E"), "forged")
    record.update(message_id="wamid.forged", content={"text": "I never said this"},
                  fingerprint="0" * 64)
    records.upload_blob(forged_path, json.dumps(record).encode())

    report = check(archive, day)

    assert report.verified == 1
    (failed,) = report.failed
    assert failed.path == forged_path
    assert failed.problems == ("raw body does not yield this record",)


def test_cli_exit_codes_and_json(
    archive: BlobServiceClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    day, ts = a_day()
    path = archive_text(ts)
    argv = ["custody", "check", "--from", day.isoformat(), "--to", day.isoformat(), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["verified"] == 1

    records, raw = containers(archive)
    raw_path = json.loads(records.download_blob(path).readall())["raw"]["path"]
    raw.upload_blob(raw_path, b"{}", overwrite=True)  # tampered, metadata gone too
    assert main(argv) == 1
    failed = json.loads(capsys.readouterr().out)["failed"]
    assert [f["path"] for f in failed] == [path]

    monkeypatch.delenv(SETTING_APP_SECRET)
    monkeypatch.setenv("WA_ARCHIVE_DATA_DIR", str(uuid.uuid4()))  # no settings file either
    assert main(argv) == 2
    assert SETTING_APP_SECRET in capsys.readouterr().err
