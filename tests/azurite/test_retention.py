"""Retention on a real Azurite: records archived through the pipeline code, sealed,
disposed of, certified and verified; holds, shared raw bodies, crashes, refusals.

One Azurite for the module; each test starts from empty containers and tables
(retention looks at the whole archive, and the seal chain is archive-wide).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient

from archive.canonical import canonical_json
from archive.disposal import parse_certificate
from archive.flags import flag_entity
from archive.holds import new_matter
from archive.index import participant_key
from archive.lexicon import compile_policy, policy_from_json
from archive.names import (
    CONTAINERS,
    INDEX_TABLES,
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SEALS_CONTAINER,
    SETTING_RETENTION_DAYS,
    TABLE_BY_DAY,
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
    TABLE_FLAGS,
)
from archive.retention import BLOB_LEGAL_HOLD, PENDING_PREFIX
from archive.scope import Scope
from cli.main import main
from devhost.azurite import Azurite
from ingest.worker import orchestration_input, prepare
from orchestrations.steps import fetch_media_item, store_record
from storage.blob_versions import BlobVersion, delete_version
from storage.clients import table_service
from storage.holds import HoldStore, released
from storage.retention_run import RetentionReport, run_retention
from storage.sealing import seal_day
from storage.signing import LocalSigner, generate_key_file, load_key_file, verify_es256
from storage.verification import VerifyReport, verify_archive
from tests.support import webhooks
from tests.support.envelopes import meta_envelope, store_envelope
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite
DAY = date(2024, 3, 10)
NOW = datetime(2024, 3, 12, 6, tzinfo=UTC)
DAYS = 1  # the cut-off is 2024-03-11: DAY expired
HELD, FREE = "15550000001", "15550000002"


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture(scope="module")
def module_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    emulator = Azurite(tmp_path_factory.mktemp("retention-azurite"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass
class Env:
    blobs: BlobServiceClient
    tables: TableServiceClient
    signer: LocalSigner
    media: MediaServer

    def container(self, name: str) -> ContainerClient:
        return self.blobs.get_container_client(name)

    def names(self, container: str) -> set[str]:
        return {b.name for b in self.container(container).list_blobs()}

    def everything(self) -> dict[str, Any]:
        blobs = {c: sorted(self.names(c)) for c in CONTAINERS}
        rows = {t: sorted((e["PartitionKey"], e["RowKey"]) for e in
                          self.tables.get_table_client(t).list_entities())
                for t in INDEX_TABLES}
        return {"blobs": blobs, "rows": rows}

    def retention(self, **kwargs: Any) -> RetentionReport:
        kwargs.setdefault("now", NOW)
        kwargs.setdefault("clock", lambda: NOW)
        return run_retention(self.blobs, self.tables, retention_days=DAYS, **kwargs)

    def verify(self) -> VerifyReport:
        public = self.signer.public_key()
        return verify_archive(self.blobs, lambda d, s: verify_es256(public, d, s),
                              tables=self.tables)

    def certificate(self, name: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.container(SEALS_CONTAINER).download_blob(
            name).readall())
        return value


def _wipe(blobs: BlobServiceClient, tables: TableServiceClient) -> None:
    for name in CONTAINERS:
        container = blobs.get_container_client(name)
        for blob in container.list_blobs():
            container.delete_blob(blob.name)
    for name in INDEX_TABLES:
        table = tables.get_table_client(name)
        for entity in table.list_entities(select=["PartitionKey", "RowKey"]):
            table.delete_entity(entity["PartitionKey"], entity["RowKey"])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, module_azurite: Azurite, media_server: MediaServer,
        tmp_path: Path) -> Env:
    conn = module_azurite.connection_string
    use_archive(monkeypatch, conn, graph_url=media_server.base_url)
    blobs, tables = BlobServiceClient.from_connection_string(conn), table_service()
    _wipe(blobs, tables)
    key_file = tmp_path / "seal-key.pem"
    generate_key_file(key_file)
    return Env(blobs, tables, load_key_file(key_file), media_server)


def text(sender: str, day: date = DAY, received: date | None = None) -> dict[str, Any]:
    wamid = f"wamid.{uuid.uuid4().hex}"
    body = webhooks.body_of(webhooks.text_message(wamid, sender, int(at(day).timestamp())))
    (result,) = store_envelope(meta_envelope(body, at(received or day)))
    return {"wamid": wamid, **result}


def status(wamid: str, recipient: str, day: date = DAY) -> str:
    body = webhooks.body_of(webhooks.status(wamid, recipient, "read", int(at(day, 13).timestamp())))
    (result,) = store_envelope(meta_envelope(body, at(day, 14)))
    return str(result["path"])


def image(env: Env, sender: str, day: date = DAY) -> tuple[str, str, str]:
    """An image message with its media stored: (record, media, raw) names."""
    media_id = uuid.uuid4().hex
    item = env.media.add(media_id, MediaItem(data=b"\xff\xd8 jpeg " + media_id.encode()))
    body = webhooks.body_of(webhooks.image_message(
        f"wamid.{uuid.uuid4().hex}", sender, int(at(day).timestamp()), media_id, item.sha256))
    envelope = meta_envelope(body, at(day))
    (event,) = prepare(envelope).events
    media = fetch_media_item({"event": event.to_dict(), "media_index": 0})
    payload = orchestration_input(envelope, event, 0)
    stored = store_record({**payload, "media": [media]})
    return str(stored["path"]), str(media["blob_path"]), str(payload["raw"]["path"])


def raw_of(env: Env, record: str) -> str:
    doc = json.loads(env.container(RECORDS_CONTAINER).download_blob(record).readall())
    return str(doc["raw"]["path"])


def hold(env: Env, participant: str, matter: str = "M-1") -> None:
    HoldStore(env.tables).place(new_matter(matter, Scope(participant=participant),
                                           "litigation", "counsel@example.com", NOW))


def release(env: Env, matter: str = "M-1") -> None:
    store = HoldStore(env.tables)
    row = store.row(matter)
    assert row is not None
    store.update(row, matter=released(row.matter, "counsel@example.com", NOW))


def day_rows(env: Env, table: str, partition: str) -> set[str]:
    return {e["RowKey"] for e in env.tables.get_table_client(table).query_entities(
        f"PartitionKey eq '{partition}'")}


def test_expired_records_go_held_ones_stay_certified_sealed_and_verified(env: Env) -> None:
    kept = text(HELD)
    gone = text(FREE)
    gone_status = status(gone["wamid"], FREE)
    photo, photo_media, photo_raw = image(env, FREE)
    recent = text(FREE, day=NOW.date())
    assert seal_day(env.blobs, env.signer, DAY).leaves == 9  # 4 records, 4 raw, 1 media
    gone_raws = {raw_of(env, gone["path"]), raw_of(env, gone_status), photo_raw}
    hold(env, HELD)

    report = env.retention()
    (run,) = report.runs
    assert report.resumed == [] and run["counts"]["deleted"] == {
        RECORDS_CONTAINER: 3, RAW_CONTAINER: 3, MEDIA_CONTAINER: 1}
    assert run["held_by_matter"] == {"M-1": 2}  # the held record and its raw body
    records = env.names(RECORDS_CONTAINER)
    assert kept["path"] in records and recent["path"] in records
    assert not {gone["path"], gone_status, photo} & records
    assert photo_media not in env.names(MEDIA_CONTAINER)
    assert env.names(RAW_CONTAINER) == {raw_of(env, kept["path"]), raw_of(env, recent["path"])}
    # Index rows of the disposed records went, the message's latest-status row too.
    by_day = day_rows(env, TABLE_BY_DAY, DAY.isoformat())
    assert len(by_day) == 1 and kept["wamid"].split(".")[1] in next(iter(by_day))
    assert day_rows(env, TABLE_BY_MESSAGE, gone["wamid"]) == set()
    # The customer's partition keeps only the recent message: its timeline row and its
    # conversation row (`c~...`, issue 14); those of the disposed records went with them.
    free_rows = list(env.tables.get_table_client(TABLE_BY_PARTICIPANT).query_entities(
        f"PartitionKey eq '{participant_key(FREE)}'"))
    assert {r["record_path"] for r in free_rows} == {recent["path"]}
    assert sorted(str(r["RowKey"])[:2] for r in free_rows)[-1] == "c~" and len(free_rows) == 2

    # The certificate lists exactly what went, each with its sha256 and covering seal.
    doc = env.certificate(run["certificate"])
    assert run["certificate"].startswith(f"disposals/year=2024/month=03/day=12/{run['run']}")
    listed = {(d["container"], d["name"]) for d in doc["disposed"]}
    assert listed == {(RECORDS_CONTAINER, gone["path"]), (RECORDS_CONTAINER, gone_status),
                      (RECORDS_CONTAINER, photo), (MEDIA_CONTAINER, photo_media)} | {
        (RAW_CONTAINER, raw) for raw in gone_raws}
    assert parse_certificate(json.dumps(doc).encode()).covers(
        MEDIA_CONTAINER, photo_media, next(d["sha256"] for d in doc["disposed"]
                                           if d["name"] == photo_media))
    assert {d["seal"] for d in doc["disposed"]} == {"daily/0000000001.json"}
    assert doc["policy"]["retention_days"] == DAYS and doc["cutoff"] == "2024-03-11"
    assert doc["held"] == [{"matter": "M-1", "blobs": sorted([
        f"{RECORDS_CONTAINER}/{kept['path']}", f"{RAW_CONTAINER}/{raw_of(env, kept['path'])}"])}]

    # Verify: the disposed blobs are disposed, not missing; the certificate is sealed.
    report_v = env.verify()
    assert report_v.ok and report_v.disposed == 7, report_v.findings
    assert seal_day(env.blobs, env.signer, DAY + timedelta(days=1)).leaves == 0
    sealed = seal_day(env.blobs, env.signer, NOW.date())
    assert sealed.leaves == 3  # the recent record, its raw body and the certificate
    report_v = env.verify()
    assert report_v.ok and report_v.disposed == 7, report_v.findings
    # Tampering with a sealed certificate is caught like any other sealed blob.
    seals = env.container(SEALS_CONTAINER)
    seals.upload_blob(run["certificate"], json.dumps({**doc, "disposed": []}).encode(),
                      overwrite=True)
    findings = env.verify().findings
    assert {f.kind for f in findings if f.subject == f"{SEALS_CONTAINER}/{run['certificate']}"
            } & {"size_mismatch", "sha256_mismatch"}
    # ... and the blobs it listed are missing again: no certificate vouches for them.
    assert sum(1 for f in findings if f.kind == "missing") == 7
    # A sealed blob gone with no certificate is a failure.
    seals.upload_blob(run["certificate"], canonical_json(doc), overwrite=True)
    assert env.verify().ok
    env.container(RECORDS_CONTAINER).delete_blob(kept["path"])
    assert [(f.kind, f.subject) for f in env.verify().findings if f.check == "integrity"] == [
        ("missing", f"{RECORDS_CONTAINER}/{kept['path']}")]


def flag(env: Env, record_path: str, version: int = 1) -> tuple[str, str]:
    """A Flags row on the record, as the pipeline writes it (archive.flags)."""
    document = json.loads(env.container(RECORDS_CONTAINER).download_blob(record_path).readall())
    policy = compile_policy(policy_from_json(json.dumps({
        "schema": "wa-archive/lexicon@1", "name": "t",
        "rules": [{"id": "hello", "pattern": "hello"}]}).encode()))
    row = flag_entity(document, record_path, version=version, policy_sha256=policy.sha256,
                      hits=policy.evaluate(document), source="archive", flagged_at=NOW)
    env.tables.get_table_client(TABLE_FLAGS).create_entity(row)
    return str(row["PartitionKey"]), str(row["RowKey"])


def test_a_disposed_records_flags_go_with_it_a_held_ones_stay(env: Env) -> None:
    """A flag names the matched words: it must not outlive its record."""
    kept, gone = text(HELD), text(FREE)
    kept_flag, gone_flags = flag(env, kept["path"]), {flag(env, gone["path"], v) for v in (1, 2)}
    seal_day(env.blobs, env.signer, DAY)
    hold(env, HELD)
    (run,) = env.retention().runs
    assert run["counts"]["deleted"][RECORDS_CONTAINER] == 1
    left = {(e["PartitionKey"], e["RowKey"])
            for e in env.tables.get_table_client(TABLE_FLAGS).list_entities()}
    assert kept_flag in left and not gone_flags & left


def test_release_then_the_rest_goes_and_verify_stays_clean(env: Env) -> None:
    kept = text(HELD)
    text(FREE)
    seal_day(env.blobs, env.signer, DAY)
    hold(env, HELD)
    env.retention()
    assert env.names(RECORDS_CONTAINER) == {kept["path"]}
    release(env)
    (run,) = env.retention().runs
    assert run["counts"]["deleted"] == {RECORDS_CONTAINER: 1, RAW_CONTAINER: 1}
    assert env.names(RECORDS_CONTAINER) == set() and env.names(RAW_CONTAINER) == set()
    assert day_rows(env, TABLE_BY_DAY, DAY.isoformat()) == set()
    report = env.verify()
    assert report.ok and report.disposed == 4, report.findings


def test_a_raw_body_shared_by_a_held_and_a_free_event_goes_last(env: Env) -> None:
    ts = int(at(DAY).timestamp())
    messages = [
        {"from": sender, "id": f"wamid.{uuid.uuid4().hex}", "timestamp": str(ts + i),
         "type": "text", "text": {"body": "hi"}} for i, sender in enumerate((HELD, FREE))]
    body = webhooks.body_of(webhooks.envelope({
        "contacts": [{"profile": {"name": "C"}, "wa_id": s} for s in (HELD, FREE)],
        "messages": messages}))
    held_record, free_record = (r["path"] for r in store_envelope(meta_envelope(body, at(DAY))))
    (raw,) = env.names(RAW_CONTAINER)
    seal_day(env.blobs, env.signer, DAY)
    hold(env, HELD)

    (run,) = env.retention().runs
    assert env.names(RECORDS_CONTAINER) == {held_record}
    assert env.names(RAW_CONTAINER) == {raw}  # its other event is held
    assert run["counts"]["deleted"] == {RECORDS_CONTAINER: 1}
    doc = env.certificate(run["certificate"])
    assert {(d["container"], d["name"]) for d in doc["disposed"]} == {
        (RECORDS_CONTAINER, free_record)}
    assert f"{RAW_CONTAINER}/{raw}" in doc["held"][0]["blobs"]
    assert env.verify().ok

    release(env)
    (run,) = env.retention().runs
    assert run["counts"]["deleted"] == {RECORDS_CONTAINER: 1, RAW_CONTAINER: 1}
    assert env.names(RAW_CONTAINER) == set() and env.verify().ok


class Crash(RuntimeError):
    pass


def test_a_crash_mid_run_is_finished_next_time_nothing_deleted_twice(env: Env) -> None:
    made = [text(FREE) for _ in range(4)] + [text(HELD)]
    seal_day(env.blobs, env.signer, DAY)
    deleted: Counter[tuple[str, str]] = Counter()

    def counting(container: ContainerClient, version: BlobVersion
                 ) -> Literal["deleted", "gone", "held", "immutable"]:
        outcome = delete_version(container, version)
        if outcome == "deleted":
            deleted[(version.container, version.name)] += 1
        return outcome

    def crash_after_two(count: int) -> None:
        if count >= 2:
            raise Crash("killed mid-run")

    with pytest.raises(Crash):
        env.retention(delete=counting, after_delete=crash_after_two)
    seals = env.names(SEALS_CONTAINER)
    (pending,) = [n for n in seals if n.startswith(PENDING_PREFIX)]
    assert not [n for n in seals if n.startswith("disposals/year=")]  # no certificate yet
    assert env.names(RAW_CONTAINER)  # raw bodies were due after the records

    report = env.retention(delete=counting)
    (resumed,) = report.resumed
    assert resumed["run"] in pending and resumed["resumed"] is True
    doc = env.certificate(resumed["certificate"])
    outcomes = Counter(d["outcome"] for d in doc["disposed"])
    assert outcomes["gone"] >= 2 and sum(outcomes.values()) == 10  # 5 records + 5 raw
    assert all(count == 1 for count in deleted.values()) and len(deleted) == 10
    assert {n for _, n in deleted} == {d["name"] for d in doc["disposed"]}
    assert [r["counts"]["deleted"] for r in report.runs] == [{}]  # nothing left
    assert {m["path"] for m in made} & env.names(RECORDS_CONTAINER) == set()
    assert day_rows(env, TABLE_BY_DAY, DAY.isoformat()) == set()
    assert env.verify().ok


def test_refused_versions_are_skips_and_their_media_and_raw_stay(env: Env) -> None:
    immutable = text(FREE)
    legal = text(FREE)
    photo, photo_media, _ = image(env, FREE)

    def refusing(container: ContainerClient, version: BlobVersion
                 ) -> Literal["deleted", "gone", "held", "immutable"]:
        if version.name == immutable["path"]:
            return "immutable"  # what BlobImmutableDueToPolicy maps to
        if version.name in (legal["path"], photo):
            return "held"
        return delete_version(container, version)

    (run,) = env.retention(delete=refusing).runs
    assert run["counts"]["deleted"] == {}
    assert {immutable["path"], legal["path"], photo} <= env.names(RECORDS_CONTAINER)
    assert photo_media in env.names(MEDIA_CONTAINER)
    assert len(env.names(RAW_CONTAINER)) == 3
    assert run["held_by_matter"] == {BLOB_LEGAL_HOLD: 2}
    doc = env.certificate(run["certificate"])
    reasons = Counter(s["reason"] for s in doc["skipped"])
    assert reasons == {"immutable": 1, "record_kept": 4}  # 3 raw bodies and the media
    assert doc["disposed"] == []
    assert len(day_rows(env, TABLE_BY_DAY, DAY.isoformat())) == 3  # index rows kept


def test_dry_run_prints_what_would_go_and_changes_nothing(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kept, gone = text(HELD), text(FREE)
    hold(env, HELD)
    before = env.everything()
    monkeypatch.setenv(SETTING_RETENTION_DAYS, str(DAYS))
    assert main(["retention", "run", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (plan,) = out["runs"]
    assert out["dry_run"] is True and plan["would_delete"] == {
        RECORDS_CONTAINER: 1, RAW_CONTAINER: 1}
    assert f"{RECORDS_CONTAINER}/{gone['path']}" in plan["blobs"]
    assert plan["held"]["M-1"] == sorted([f"{RECORDS_CONTAINER}/{kept['path']}",
                                          f"{RAW_CONTAINER}/{raw_of(env, kept['path'])}"])
    after = env.everything()
    # Only the audit entries of the dry run itself are new.
    assert len(after["blobs"]["audit"]) == len(before["blobs"]["audit"]) + 2
    before["blobs"].pop("audit"), after["blobs"].pop("audit")
    assert after == before

    assert main(["retention", "run", "--dry-run"]) == 0
    human = capsys.readouterr().out
    assert "would delete: raw 1, records 1" in human and "M-1: 2 blob(s)" in human
    assert "DRY RUN: nothing was changed" in human
