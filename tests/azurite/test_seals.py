"""Seals on a private Azurite: archive through the pipeline code, seal, verify, tamper.

Azurite has no WORM, which is what makes each tampering below possible here; each
must be named by `wa-archive verify`. A private Azurite per test keeps the one
archive-wide chain of seals to the test.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings
from cryptography.hazmat.primitives.asymmetric import ec

from admin.audit import record_action
from admin.connection import open_archive
from archive.names import (
    AUDIT_CONTAINER,
    MEDIA_CONTAINER,
    RECORDS_CONTAINER,
    SEALS_CONTAINER,
    SETTING_MANIFEST_KEY_ID,
)
from archive.seal import day_prefix, parse_seal_document, seal_blob_name
from archive.seal_check import check_chain
from cli.main import main
from devhost.azurite import Azurite
from ingest.worker import orchestration_input, prepare
from orchestrations.steps import fetch_media_item, store_record
from storage.clients import table_service
from storage.sealing import SealChain, seal_day
from storage.signing import (
    LocalSigner,
    generate_key_file,
    load_key_file,
    signer_from_setting,
    verify_es256,
)
from storage.verification import VerifyReport, verify_archive
from tests.support import webhooks
from tests.support.envelopes import meta_envelope, store_envelope
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite
DAY = date(2024, 3, 10)
NEXT = DAY + timedelta(days=1)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class Env:
    blobs: BlobServiceClient
    signer: LocalSigner
    key_file: Path
    media: MediaServer
    folder: Path

    def verify(self) -> VerifyReport:
        public = self.signer.public_key()
        return verify_archive(self.blobs, lambda d, s: verify_es256(public, d, s),
                              tables=table_service())

    def subjects(self, kind: str) -> set[str]:
        return {f.subject for f in self.verify().findings if f.kind == kind}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fresh_azurite: Azurite, media_server: MediaServer,
        tmp_path: Path) -> Iterator[Env]:
    conn = fresh_azurite.connection_string
    use_archive(monkeypatch, conn, graph_url=media_server.base_url)
    key_file = tmp_path / "seal-key.pem"
    generate_key_file(key_file)
    monkeypatch.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key_file}")
    yield Env(BlobServiceClient.from_connection_string(conn), load_key_file(key_file),
              key_file, media_server, tmp_path)


def archive_text(day: date, received: date | None = None) -> str:
    wamid = f"wamid.{uuid.uuid4().hex}"
    ts = int(at(day).timestamp())
    body = webhooks.body_of(webhooks.text_message(wamid, "15551234567", ts))
    (result,) = store_envelope(meta_envelope(body, at(received or day)))
    assert result["state"] == "stored"
    return wamid


def archive_status(wamid: str, day: date, received: date) -> str:
    ts = int(at(day, 13).timestamp())
    body = webhooks.body_of(webhooks.status(wamid, "15551234567", "read", ts))
    (result,) = store_envelope(meta_envelope(body, at(received, 1)))
    return str(result["path"])


def archive_image(env: Env, day: date) -> tuple[str, str]:
    """Image message with its media fetched from the Graph stand-in; (record, media) names."""
    media_id = uuid.uuid4().hex
    item = env.media.add(media_id, MediaItem(data=b"\xff\xd8 jpeg " + media_id.encode()))
    body = webhooks.body_of(webhooks.image_message(
        f"wamid.{uuid.uuid4().hex}", "15551234567", int(at(day).timestamp()), media_id,
        item.sha256))
    envelope = meta_envelope(body, at(day))
    (event,) = prepare(envelope).events
    media = fetch_media_item({"event": event.to_dict(), "media_index": 0})
    stored = store_record({**orchestration_input(envelope, event, 0), "media": [media]})
    return str(stored["path"]), str(media["blob_path"])


def run_cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def overwrite(env: Env, container: str, name: str, data: bytes) -> None:
    env.blobs.get_container_client(container).upload_blob(
        name, data, overwrite=True, content_settings=ContentSettings("application/json"))


def test_seal_verify_prove_and_every_tampering_is_named(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    wamid = archive_text(DAY)
    record, media = archive_image(env, DAY)
    record_action(open_archive(), "test_action", {"id": "x"}, "ok", when=at(DAY))

    code, out = run_cli("seal", "--day", DAY.isoformat(), "--json", capsys=capsys)
    sealed = json.loads(out)
    assert code == 0 and sealed["kind"] == "primary" and sealed["seq"] == 1
    # 2 raw bodies, 2 records, 1 media, 1 audit entry; one listing per sealed container
    # (5), small media in `media/small/` (the image: archive.layout), the day's disposal
    # certificates in `seals` (none yet), plus the seals listing.
    assert sealed["leaves"] == 6 and sealed["list_calls"] == 8
    assert sealed["hashed"] == 0  # every writer, audit included, stored its sha256
    code, out = run_cli("verify", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["blobs_checked"] == 6, out

    # A late status for the sealed day: its record lands in DAY, its raw body in NEXT.
    late = archive_status(wamid, DAY, NEXT)
    assert env.subjects("unsealed") == {f"{RECORDS_CONTAINER}/{late}"}
    assert seal_day(env.blobs, env.signer, NEXT).kind == "primary"
    supplementary = seal_day(env.blobs, env.signer, DAY)
    assert (supplementary.kind, supplementary.leaves) == ("supplementary", 1)
    assert seal_day(env.blobs, env.signer, DAY).kind is None  # nothing new: no seal
    assert env.verify().ok

    # An offline proof for the record, and the public key as an auditor gets it.
    proof_file, key_pem = env.folder / "proof.json", env.folder / "key.pem"
    assert run_cli("prove", record, "--out", str(proof_file), capsys=capsys)[0] == 0
    assert run_cli("seal", "public-key", "--out", str(key_pem), capsys=capsys)[0] == 0
    code, out = run_cli("seal", "public-key", "--json", capsys=capsys)
    exported = json.loads(out)
    assert code == 0 and exported["pem"] == key_pem.read_text()
    assert [k["crv"] for k in exported["jwks"]["keys"]] == ["P-256"]
    record_file = env.folder / "record.json"
    record_bytes = env.blobs.get_container_client(RECORDS_CONTAINER).download_blob(
        record).readall()
    record_file.write_bytes(record_bytes)
    code, out = run_cli("verify-proof", str(proof_file), "--public-key", str(key_pem),
                        "--blob", str(record_file), capsys=capsys)
    assert code == 0 and out.startswith("VERIFIED"), out
    record_file.write_bytes(record_bytes[:10] + bytes([record_bytes[10] ^ 1])
                            + record_bytes[11:])
    code, out = run_cli("verify-proof", str(proof_file), "--public-key", str(key_pem),
                        "--blob", str(record_file), capsys=capsys)
    assert code == 1 and "NOT VERIFIED" in out

    # Overwrite a record blob.
    overwrite(env, RECORDS_CONTAINER, record, record_bytes.replace(b"a photo", b"a fake!"))
    code, out = run_cli("verify", capsys=capsys)
    assert code == 1 and f"integrity/sha256_mismatch {RECORDS_CONTAINER}/{record}" in out

    # Delete a media blob.
    env.blobs.get_container_client(MEDIA_CONTAINER).delete_blob(media)
    assert env.subjects("missing") == {f"{MEDIA_CONTAINER}/{media}"}

    # An unsealed blob in a sealed partition, before and after a supplementary seal.
    planted = f"{day_prefix(DAY)}planted-{uuid.uuid4().hex}.json"
    overwrite(env, AUDIT_CONTAINER, planted, b"{}")
    assert env.subjects("unsealed") == {f"{AUDIT_CONTAINER}/{planted}"}
    assert seal_day(env.blobs, env.signer, DAY).kind == "supplementary"
    assert env.subjects("unsealed") == set()
    second = f"{day_prefix(DAY)}planted-{uuid.uuid4().hex}.json"
    overwrite(env, RECORDS_CONTAINER, second, b"{}")
    assert env.subjects("unsealed") == {f"{RECORDS_CONTAINER}/{second}"}

    seals = env.blobs.get_container_client(SEALS_CONTAINER)
    first, middle = seal_blob_name(1), seal_blob_name(2)
    original = seals.download_blob(first).readall()
    # Edit a seal: drop a leaf and fix its root, counts and size (signature cannot follow).
    doc = json.loads(original)
    doc["leaves"] = doc["leaves"][1:]
    stored = parse_seal_document(json.dumps(doc).encode())
    doc["seal"].update(root=stored.seal.root, tree_size=len(stored.seal.leaves),
                       counts=stored.seal.body()["counts"])
    overwrite(env, SEALS_CONTAINER, first, json.dumps(doc).encode())
    found = {(f.kind, f.subject) for f in env.verify().findings}
    assert ("signature_invalid", first) in found and ("chain_broken", middle) in found
    overwrite(env, SEALS_CONTAINER, first, original)

    # Sign with another key: a forged seal 1, re-signed, is refused.
    forger = LocalSigner(ec.generate_private_key(ec.SECP256R1()), env.signer.key_id)
    forged = parse_seal_document(original).seal
    overwrite(env, SEALS_CONTAINER, first, forged.document(forger.sign(forged.signing_bytes())))
    assert env.subjects("signature_invalid") == {first}
    overwrite(env, SEALS_CONTAINER, first, original)

    # Remove a seal from the chain.
    seals.delete_blob(middle)
    found = {(f.kind, f.subject) for f in env.verify().findings}
    assert ("seq_gap", seal_blob_name(3)) in found and ("chain_broken", seal_blob_name(3)) in found


def test_a_day_without_blobs_still_gets_its_primary_seal_and_gaps_are_named(env: Env) -> None:
    for day in (DAY, DAY + timedelta(days=2)):
        outcome = seal_day(env.blobs, env.signer, day)
        assert (outcome.kind, outcome.leaves) == ("primary", 0)
    gaps = [f for f in env.verify().findings if f.kind == "day_gap"]
    assert [g.subject for g in gaps] == [DAY.isoformat()]
    # What the TUI's Evidence screen lists: newest first, signature checked.
    from admin.evidence import seal_overview

    public = env.signer.public_key()
    rows = seal_overview(open_archive(), lambda d, s: verify_es256(public, d, s))
    assert [(r.seq, r.day, r.kind, r.signature_ok, r.problem) for r in rows] == [
        (2, (DAY + timedelta(days=2)).isoformat(), "primary", True, None),
        (1, DAY.isoformat(), "primary", True, None)]
    # Today's partitions are still filling: the CLI refuses to seal them.
    today = datetime.now(UTC).date().isoformat()
    assert main(["seal", "--day", today]) == 2


def test_blobs_without_a_sha256_in_metadata_are_hashed_and_sealed(env: Env) -> None:
    name = f"{day_prefix(DAY)}legacy.json"
    env.blobs.get_container_client(AUDIT_CONTAINER).upload_blob(name, b'{"old": true}')
    outcome = seal_day(env.blobs, env.signer, DAY)
    assert (outcome.leaves, outcome.hashed) == (1, 1)
    assert env.verify().ok


def test_racing_sealing_runs_never_fork_the_chain(env: Env) -> None:
    days = [DAY + timedelta(days=n) for n in range(6)]
    for day in days:
        archive_text(day)
    signer = signer_from_setting()
    errors: list[BaseException] = []

    def run(day: date) -> None:
        try:
            seal_day(env.blobs, signer, day)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(day,)) for day in days + days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    chain = SealChain(env.blobs.get_container_client(SEALS_CONTAINER))
    seals = list(chain.documents(chain.entries()))
    assert len(seals) == len(days) and check_chain(seals) == []
    assert env.verify().ok


def doc_script() -> str:
    """The Python block under the 20-line heading of docs/evidence.md, verbatim."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "evidence.md").read_text()
    section = text.split("### Verify a proof with 20 lines of Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_auditors_script_in_the_docs_verifies_a_real_proof(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    from admin.evidence import prove

    record, _ = archive_image(env, DAY)
    archive_text(DAY)
    seal_day(env.blobs, env.signer, DAY)
    proof = env.folder / "proof.json"
    proof.write_text(json.dumps(prove(open_archive(), record)))
    key_pem = env.folder / "key.pem"
    assert run_cli("seal", "public-key", "--out", str(key_pem), capsys=capsys)[0] == 0
    blob = env.folder / "record.json"
    data = env.blobs.get_container_client(RECORDS_CONTAINER).download_blob(record).readall()
    script = env.folder / "verify_proof.py"
    script.write_text(doc_script())
    assert len([line for line in doc_script().splitlines() if line.strip()]) <= 21

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), str(proof), str(key_pem), str(blob)],
                              capture_output=True, text=True, timeout=60, check=False)

    blob.write_bytes(data)
    ok = run()
    assert ok.returncode == 0 and ok.stdout.startswith(f"VERIFIED records/{record}"), ok.stderr
    blob.write_bytes(data[:-2] + bytes([data[-2] ^ 1]) + data[-1:])
    assert "blob differs" in run().stderr
    blob.write_bytes(data)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    from storage.signing import public_pem

    key_pem.write_bytes(public_pem(other))
    assert "InvalidSignature" in run().stderr


def test_the_daily_verification_writes_parts_a_report_and_failure_rows(env: Env) -> None:
    from archive.names import TABLE_FAILURES
    from storage.clients import table_service
    from storage.verification_run import (
        latest_report,
        part_name,
        verify_chain_part,
        verify_day_part,
        verify_older_sample,
        write_report,
    )

    old_day = DAY - timedelta(days=30)
    archive_text(old_day)
    record, _ = archive_image(env, DAY)
    for day in (old_day, DAY):
        seal_day(env.blobs, env.signer, day)
    overwrite(env, RECORDS_CONTAINER, record, b"{}")
    run_day, now = NEXT, at(NEXT, 4)
    tables = table_service()

    chain = verify_chain_part(env.blobs, tables, lambda: env.signer, run_day, now)
    # The 29 days between the two seals have none: a day gap, and the only chain finding.
    assert (chain["findings"], chain["seals"]) == (1, 1)
    assert chain["sealed_days"] == [old_day.isoformat(), DAY.isoformat()]
    day_part = verify_day_part(env.blobs, tables, lambda: env.signer, run_day, DAY, now)
    assert (day_part["findings"], day_part["integrity"]) == (1, 1)
    older = verify_older_sample(env.blobs, tables, lambda: env.signer, run_day, DAY, now)
    assert (older["blobs_checked"], older["findings"]) == (2, 0)  # raw body + record
    # A retried activity finds its part written and returns the same counts.
    again = verify_day_part(env.blobs, tables, lambda: env.signer, run_day, DAY, now)
    assert again == day_part
    summary = write_report(env.blobs, run_day, [chain, day_part, older], now)
    assert summary["ok"] is False and summary["findings"] == 2

    report = latest_report(env.blobs)
    assert report is not None and report["run"] == f"verify-{run_day}"
    from admin.evidence import latest_verification

    assert latest_verification(open_archive()) == report
    seals = env.blobs.get_container_client(SEALS_CONTAINER)
    part = json.loads(seals.download_blob(part_name(run_day, f"day-{DAY}")).readall())
    assert part["findings_listed"][0]["subject"] == f"{RECORDS_CONTAINER}/{record}"
    rows = list(tables.get_table_client(TABLE_FAILURES).query_entities(
        "PartitionKey eq 'verification_failed'"))
    assert sorted(row["ref"] for row in rows) == [
        f"integrity/size_mismatch/{RECORDS_CONTAINER}/{record}",
        f"seals/day_gap/{old_day}"]
    # The reports live beside the chain and never disturb it.
    assert env.subjects("not_a_seal") == set()


def test_without_a_readable_public_key_the_run_says_signatures_went_unchecked(
    env: Env,
) -> None:
    from storage.clients import table_service
    from storage.settings import SettingError
    from storage.verification_run import verify_chain_part

    seal_day(env.blobs, env.signer, DAY)

    def no_key() -> LocalSigner:
        raise SettingError("no key")

    chain = verify_chain_part(env.blobs, table_service(), no_key, NEXT, at(NEXT))
    assert (chain["findings"], chain["seals"]) == (1, 1)


def test_records_and_index_rows_must_point_at_what_exists(env: Env) -> None:
    from archive.names import RAW_CONTAINER, TABLE_BY_DAY

    archive_text(DAY, received=NEXT)  # its raw body sits in NEXT's partition, unsealed
    record, media = archive_image(env, DAY)
    seal_day(env.blobs, env.signer, DAY)
    assert env.verify().ok
    records = env.blobs.get_container_client(RECORDS_CONTAINER)
    late = next(name for name in (b.name for b in records.list_blobs(
        name_starts_with=day_prefix(DAY))) if name != record)
    raw_path = json.loads(records.download_blob(late).readall())["raw"]["path"]
    env.blobs.get_container_client(RAW_CONTAINER).delete_blob(raw_path)
    env.blobs.get_container_client(MEDIA_CONTAINER).delete_blob(media)
    rows = table_service().get_table_client(TABLE_BY_DAY)
    rows.upsert_entity({"PartitionKey": DAY.isoformat(), "RowKey": "planted",
                        "record_path": f"{day_prefix(DAY)}meta/none.json"})
    found = {(f.check, f.kind, f.subject) for f in env.verify().findings}
    assert found == {
        ("integrity", "missing", f"{MEDIA_CONTAINER}/{media}"),
        ("completeness", "raw_body_missing", f"{RECORDS_CONTAINER}/{late}"),
        ("completeness", "index_row_dangling", f"{TABLE_BY_DAY}/{DAY}/planted"),
    }


def test_the_daily_run_reads_headers_from_metadata_and_catches_a_body_edited_beneath(
    env: Env,
) -> None:
    from storage.clients import table_service
    from storage.verification_run import verify_chain_part, verify_day_part

    archive_text(DAY)
    seal_day(env.blobs, env.signer, DAY)
    seals = env.blobs.get_container_client(SEALS_CONTAINER)
    name = seal_blob_name(1)
    props = seals.get_blob_client(name).get_blob_properties()
    doc = json.loads(seals.download_blob(name).readall())
    doc["leaves"] = doc["leaves"][:1]
    # The body changes; the metadata (with the genuine signed header) is kept.
    seals.upload_blob(name, json.dumps(doc).encode(), overwrite=True, metadata=props.metadata)
    tables = table_service()
    chain = verify_chain_part(env.blobs, tables, lambda: env.signer, NEXT, at(NEXT))
    assert chain["findings"] == 0  # the headers alone still chain and verify
    day_part = verify_day_part(env.blobs, tables, lambda: env.signer, NEXT, DAY, at(NEXT))
    part = json.loads(seals.download_blob(f"verification/{NEXT}/day-{DAY}.json").readall())
    kinds = {(f["kind"], f["subject"]) for f in part["findings_listed"]}
    (record,) = env.blobs.get_container_client(RECORDS_CONTAINER).list_blobs(
        name_starts_with=day_prefix(DAY))
    # The dropped leaf (the record) is now unsealed, and the seal no longer adds up.
    assert {("root_mismatch", name), ("unsealed", f"records/{record.name}")} <= kinds
    assert day_part["seals"] >= 1


def test_verify_offline_checks_a_local_copy_with_no_azure_access(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from archive.seal import SEALED_CONTAINERS

    record, _ = archive_image(env, DAY)
    seal_day(env.blobs, env.signer, DAY)
    key_pem = env.folder / "key.pem"
    assert run_cli("seal", "public-key", "--out", str(key_pem), capsys=capsys)[0] == 0
    copy = env.folder / "copy"
    for container in (*SEALED_CONTAINERS, SEALS_CONTAINER):
        client = env.blobs.get_container_client(container)
        for blob in client.list_blobs():
            target = copy / container / blob.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.download_blob(blob.name).readall())
    # No account at all: the settings that point at Azurite are gone.
    for name in ("ARCHIVE_STORAGE", "AzureWebJobsStorage"):
        monkeypatch.delenv(name, raising=False)
    argv = ["verify", "--offline", "--source", str(copy), "--public-key", str(key_pem)]
    code, out = run_cli(*argv, "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["blobs_checked"] == 3, out
    (copy / RECORDS_CONTAINER / record).write_bytes(b"{}")
    code, out = run_cli(*argv, capsys=capsys)
    assert code == 1 and f"integrity/size_mismatch {RECORDS_CONTAINER}/{record}" in out
