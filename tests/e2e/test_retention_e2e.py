"""End to end: events archived through devhost expire, a hold keeps one participant's,
the rest goes with its index rows, the certificate lists exactly that, verify is clean;
after the release the rest goes too. Everything runs through `wa-archive` commands.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.index import participant_key
from archive.names import (
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SEALS_CONTAINER,
    SETTING_MANIFEST_KEY_ID,
    SETTING_RETENTION_DAYS,
    TABLE_BY_DAY,
    TABLE_BY_PARTICIPANT,
)
from cli.main import main
from devhost.azurite import Azurite
from storage.signing import generate_key_file
from tests.e2e.pipeline_harness import DevHostProcess, wait_for
from tests.e2e.pipeline_harness import send_webhook as send
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.e2e
HELD, FREE = "15550000001", "15550000002"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def ts(day: date, hour: int = 12) -> int:
    return int(datetime.combine(day, time(hour), tzinfo=UTC).timestamp())


def test_retention_keeps_the_held_participant_and_certifies_the_rest(
    devhost: DevHostProcess, fresh_azurite: Azurite, media_server: MediaServer,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    conn = fresh_azurite.connection_string
    use_archive(monkeypatch, conn, graph_url=media_server.base_url)
    key_file = tmp_path / "seal.pem"
    generate_key_file(key_file)
    monkeypatch.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key_file}")
    monkeypatch.setenv(SETTING_RETENTION_DAYS, "3")
    monkeypatch.setenv("WA_ARCHIVE_DATA_DIR", str(tmp_path / "data"))
    blobs = BlobServiceClient.from_connection_string(conn)
    tables = TableServiceClient.from_connection_string(conn)
    today = datetime.now(UTC).date()
    old, recent = today - timedelta(days=5), today - timedelta(days=1)

    held_msg, free_msg = (f"wamid.{uuid.uuid4().hex}" for _ in range(2))
    media_id = uuid.uuid4().hex
    item = media_server.add(media_id, MediaItem(data=b"\xff\xd8 jpeg " + media_id.encode()))
    for doc in (
        webhooks.text_message(held_msg, HELD, ts(old)),
        webhooks.text_message(free_msg, FREE, ts(old)),
        webhooks.status(free_msg, FREE, "read", ts(old, 13)),
        webhooks.image_message(f"wamid.{uuid.uuid4().hex}", FREE, ts(old, 14), media_id,
                               item.sha256),
        webhooks.text_message(f"wamid.{uuid.uuid4().hex}", FREE, ts(recent)),
    ):
        assert send(devhost, doc) == 200
    day_table = tables.get_table_client(TABLE_BY_DAY)

    def rows(day: date) -> list[dict[str, Any]]:
        return list(day_table.query_entities(f"PartitionKey eq '{day.isoformat()}'"))

    wait_for("the old day's four records indexed", lambda: len(rows(old)) == 4 or None)
    wait_for("the recent record indexed", lambda: rows(recent) or None)
    wait_for("the media stored", lambda: list(
        blobs.get_container_client(MEDIA_CONTAINER).list_blobs()) or None)

    def names(container: str) -> set[str]:
        return {b.name for b in blobs.get_container_client(container).list_blobs()}

    def doc_of(path: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(blobs.get_container_client(
            RECORDS_CONTAINER).download_blob(path).readall())
        return value

    records = {r["record_path"]: doc_of(r["record_path"]) for r in rows(old)}
    free_old = {p for p, d in records.items() if HELD not in (d["from"], d["to"])}
    held_old = set(records) - free_old
    free_raw = {records[p]["raw"]["path"] for p in free_old}
    held_raw = {records[p]["raw"]["path"] for p in held_old}
    (media,) = names(MEDIA_CONTAINER)
    assert len(free_old) == 3 and len(held_old) == 1 and not free_raw & held_raw

    code, sealed = cli(capsys, "seal", "--day", old.isoformat())
    assert code == 0 and sealed["leaves"] == 5  # 4 records + the media; raw bodies are today's
    code, placed = cli(capsys, "hold", "place", "--matter", "CASE-7", "--participant", HELD,
                       "--reason", "regulator inquiry", "--settle-seconds", "0")
    assert code == 0, placed

    code, report = cli(capsys, "retention", "run")
    assert code == 0 and report["cutoff"] == (today - timedelta(days=3)).isoformat()
    (run,) = report["runs"]
    assert run["counts"]["deleted"] == {RECORDS_CONTAINER: 3, MEDIA_CONTAINER: 1,
                                        RAW_CONTAINER: 3}
    assert run["held_by_matter"] == {"CASE-7": 2}
    assert held_old <= names(RECORDS_CONTAINER) and not free_old & names(RECORDS_CONTAINER)
    assert names(MEDIA_CONTAINER) == set()
    assert held_raw <= names(RAW_CONTAINER) and not free_raw & names(RAW_CONTAINER)
    assert {r["record_path"] for r in rows(old)} == held_old
    assert len(rows(recent)) == 1  # not expired
    free_rows = tables.get_table_client(TABLE_BY_PARTICIPANT).query_entities(
        f"PartitionKey eq '{participant_key(FREE)}'")
    assert {r["record_path"] for r in free_rows} == {r["record_path"] for r in rows(recent)}

    certificate = json.loads(blobs.get_container_client(SEALS_CONTAINER).download_blob(
        run["certificate"]).readall())
    assert {(d["container"], d["name"]) for d in certificate["disposed"]} == (
        {(RECORDS_CONTAINER, p) for p in free_old} | {(MEDIA_CONTAINER, media)}
        | {(RAW_CONTAINER, p) for p in free_raw})
    assert certificate["held"][0]["matter"] == "CASE-7"

    code, verified = cli(capsys, "verify")
    assert code == 0 and verified["disposed"] == 4, verified  # the sealed ones

    code, _ = cli(capsys, "hold", "release", "--matter", "CASE-7", "--settle-seconds", "0")
    assert code == 0
    code, report = cli(capsys, "retention", "run")
    (run,) = report["runs"]
    assert code == 0 and run["counts"]["deleted"] == {RECORDS_CONTAINER: 1, RAW_CONTAINER: 1}
    assert rows(old) == [] and not held_old & names(RECORDS_CONTAINER)
    code, verified = cli(capsys, "verify")
    assert code == 0 and verified["disposed"] == 5, verified
