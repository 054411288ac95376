"""`wa-archive export` / `verify-export` on a real Azurite, seeded through the pipeline code.

One private Azurite for the module (the tests seal days: the chain must be theirs).
The conversation: a text that looks like a spreadsheet formula, an image whose media is
stored (from the Graph stand-in), an image whose media never came (a gap), statuses out
of order, and one message received today (its raw body cannot be sealed yet).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from admin.audit import recent_entries
from admin.connection import AdminError, Archive, open_archive
from admin.evidence import seal_one_day
from admin.export import ExportOptions, run_export
from admin.export_verify import verify_export
from archive.export import bundle as b
from archive.names import SETTING_MANIFEST_KEY_ID
from archive.scope import Scope
from cli.main import main as cli_main
from devhost.azurite import Azurite
from ingest.worker import orchestration_input, prepare
from orchestrations.archive_event import unavailable
from orchestrations.steps import fetch_media_item, store_record
from storage.signing import generate_key_file, load_key_file, public_pem
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

FORMULA = "=HYPERLINK(\"http://evil\")"


@dataclass
class Seeded:
    archive: Archive
    customer: str
    day: Any
    key_file: Path
    image: bytes
    records: int


def _archive(doc: dict[str, Any], received_at: datetime) -> list[str]:
    """What the queue worker and the orchestration do for one webhook."""
    envelope = meta_envelope(webhooks.body_of(doc), received_at)
    paths = []
    for index, event in enumerate(prepare(envelope).events):
        payload = orchestration_input(envelope, event, index)
        outcomes = []
        for media_index, media in enumerate(payload["event"].get("media") or ()):
            try:
                outcomes.append(fetch_media_item({"event": payload["event"],
                                                  "media_index": media_index}))
            except Exception as error:  # the orchestrator's "retries exhausted" branch
                outcomes.append(unavailable(media, error))
        paths.append(store_record({"raw": payload["raw"], "event_ref": payload["event_ref"],
                                   "media": outcomes})["path"])
    return paths


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    folder = tmp_path_factory.mktemp("export")
    azurite = Azurite(folder / "azurite")
    azurite.start()
    server = MediaServer().start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            use_archive(mp, azurite.connection_string, graph_url=server.base_url)
            key_file = folder / "seal.pem"
            generate_key_file(key_file)
            mp.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key_file}")
            mp.setenv("WA_ARCHIVE_DATA_DIR", str(folder / "data"))
            customer = f"1555{uuid.uuid4().int % 10**7:07d}"
            day = (datetime.now(UTC) - timedelta(days=2)).date()
            at = datetime.combine(day, time(10), tzinfo=UTC)
            ts = int(at.timestamp())
            image = b"\xff\xd8\xff" + bytes(range(256)) * 40
            server.add("media-ok", MediaItem(data=image))
            server.add("media-gone", MediaItem(data=b"x", always_404=True))
            ids = [f"wamid.{uuid.uuid4().hex}==" for _ in range(4)]
            docs = [
                webhooks.text_message(ids[0], customer, ts, FORMULA),
                webhooks.image_message(ids[1], customer, ts + 60, "media-ok"),
                webhooks.image_message(ids[2], customer, ts + 120, "media-gone"),
                # An outbound message's statuses, read arriving before delivered.
                webhooks.status(ids[3], customer, "read", ts + 300),
                webhooks.status(ids[3], customer, "delivered", ts + 200),
            ]
            count = sum(len(_archive(doc, at + timedelta(minutes=5))) for doc in docs)
            # Received today: its raw body lies in today's partition, not sealable yet.
            late = webhooks.text_message(f"wamid.{uuid.uuid4().hex}", customer, ts + 400,
                                         "late")
            count += len(_archive(late, datetime.now(UTC)))
            archive = open_archive()
            seal_one_day(archive, day)
            public = folder / "seal.pub.pem"  # what an auditor holds: the public half
            public.write_bytes(public_pem(load_key_file(key_file).public_key()))
            yield Seeded(archive, customer, day, public, image, count)
    finally:
        server.stop()
        azurite.stop()


def _conversation(seeded: Seeded) -> Scope:
    # Bounded: statuses of a message the archive never saw sent are found by day.
    return Scope(business_id=webhooks.PHONE_NUMBER_ID, customer_id=seeded.customer,
                 start=seeded.day, end=datetime.now(UTC).date())


def test_bundle_verifies_and_holds_the_records_as_stored(seeded: Seeded, tmp_path: Path
                                                        ) -> None:
    out = tmp_path / "prod"
    result = run_export(seeded.archive, ExportOptions(out=out, scope=_conversation(seeded),
                                                      tz_name="Europe/London"))
    assert not (tmp_path / "prod.partial").exists()
    check = verify_export(out, seeded.key_file)
    assert check.ok, check.findings
    manifest = json.loads((out / b.MANIFEST_FILE).read_bytes())
    assert result.manifest_sha256 == hashlib.sha256((out / b.MANIFEST_FILE).read_bytes()
                                                    ).hexdigest()
    assert manifest["counts"]["records"] == seeded.records == check.records
    # Records are byte for byte what storage holds, in provider-time order.
    container = seeded.archive.container("records")
    lines = (out / b.RECORDS_FILE).read_bytes().splitlines()
    records = [e for e in manifest["blobs"] if e["container"] == "records"]
    for entry in records:
        stored = container.download_blob(entry["name"]).readall()
        assert lines[entry["line"] - 1] == stored
    stamps = [json.loads(line)["timestamp"] for line in lines]
    assert stamps == sorted(stamps)
    # The stored image is in media/ under its sha256; the gap is listed, not dropped.
    sha = hashlib.sha256(seeded.image).hexdigest()
    assert (out / "media" / f"{sha}.jpg").read_bytes() == seeded.image
    assert [g["state"] for g in manifest["media_gaps"]] == ["unavailable"]
    # Today's raw body is unsealed: listed as such, with no proof.
    assert [u["container"] for u in manifest["unsealed"]] == ["raw"]
    assert check.unsealed == 1 and check.proofs == len(manifest["blobs"]) - 1
    # index.csv: formula cells are neutralised, local time carries its offset.
    text = (out / b.INDEX_FILE).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == seeded.records
    assert rows[0]["text_or_caption"] == "'" + FORMULA
    assert rows[0]["local_time"].endswith(("+00:00", "+01:00"))
    statuses = [r for r in rows if r["event"] == "status"]
    assert {r["latest_status"] for r in statuses} == {"delivered", "read"}
    # A proof is the one `wa-archive prove` writes and verify-proof accepts.
    proof = next(e for e in records if e["proof"])
    record_file = tmp_path / "record.json"
    record_file.write_bytes(lines[proof["line"] - 1])
    assert cli_main(["verify-proof", str(out / proof["proof"]), "--public-key",
                     str(seeded.key_file), "--blob", str(record_file)]) == 0
    # The audit trail holds the intent and an outcome carrying the manifest's sha256.
    entries = [e.entry for e in recent_entries(seeded.archive, limit=50)
               if e.entry.get("action") == "export"]
    assert {e.get("phase") for e in entries} >= {"intent", "outcome"}
    assert any(e["target"].get("manifest_sha256") == result.manifest_sha256 for e in entries)


@pytest.mark.parametrize("victim", ["records.jsonl", "media", "raw", "proof", "seal", "index"])
def test_one_changed_byte_fails_and_is_named(seeded: Seeded, tmp_path: Path,
                                             victim: str) -> None:
    out = tmp_path / "prod"
    run_export(seeded.archive, ExportOptions(out=out, scope=_conversation(seeded)))
    manifest = json.loads((out / b.MANIFEST_FILE).read_bytes())
    paths = [f["path"] for f in manifest["files"]]
    prefix = {"records.jsonl": b.RECORDS_FILE, "media": "media/", "raw": "raw/",
              "proof": "proofs/records/", "seal": "proofs/seals/", "index": b.INDEX_FILE}
    target = next(p for p in paths if p.startswith(prefix[victim]))
    data = bytearray((out / target).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / target).write_bytes(bytes(data))
    check = verify_export(out, seeded.key_file)
    assert not check.ok
    assert target in {f.path for f in check.findings}
    assert cli_main(["verify-export", str(out), "--public-key", str(seeded.key_file)]) == 1


def test_extra_or_missing_files_and_a_foreign_key_fail(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "prod"
    run_export(seeded.archive, ExportOptions(out=out, scope=_conversation(seeded)))
    (out / "media" / "planted.jpg").write_bytes(b"x")
    first_raw = next((out / "raw").iterdir())
    first_raw.unlink()
    findings = {(f.path, f.reason) for f in verify_export(out, seeded.key_file).findings}
    assert ("media/planted.jpg", "extra file (not in the manifest)") in findings
    assert (f"raw/{first_raw.name}", "missing (listed in the manifest)") in findings
    other = tmp_path / "other.pem"
    generate_key_file(other)
    public = tmp_path / "other.pub.pem"
    public.write_bytes(public_pem(load_key_file(other).public_key()))
    clean = tmp_path / "clean"
    run_export(seeded.archive, ExportOptions(out=clean, scope=_conversation(seeded)))
    reasons = {f.reason for f in verify_export(clean, public).findings}
    assert "the seal's signature does not verify with the public key" in reasons


def test_interrupted_export_resumes_to_the_same_manifest_and_zip_matches(
        seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "prod"
    written: list[str] = []

    def fail_after_three(rel: str) -> None:
        written.append(rel)
        if len(written) == 3:
            raise RuntimeError("injected")

    options = ExportOptions(out=out, scope=_conversation(seeded))
    with pytest.raises(RuntimeError, match="injected"):
        run_export(seeded.archive, options, on_file=fail_after_three)
    assert not out.exists() and (tmp_path / "prod.partial").is_dir()
    first = run_export(seeded.archive, options)
    assert first.resumed and verify_export(out, seeded.key_file).ok
    # A clean run of the same query writes the same files (ids and times aside).
    zipped = tmp_path / "prod.zip"
    run_export(seeded.archive, ExportOptions(out=zipped, scope=_conversation(seeded)))
    assert not (tmp_path / "prod.partial.zip").exists()
    assert verify_export(zipped, seeded.key_file).ok
    with zipfile.ZipFile(zipped) as archive:
        names = set(archive.namelist())
        assert archive.read(b.RECORDS_FILE) == (out / b.RECORDS_FILE).read_bytes()
    folder = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert names == folder
    with pytest.raises(AdminError, match="already exists"):
        run_export(seeded.archive, options)


def test_matter_exports_the_hold_scope_and_cli_json(seeded: Seeded, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from archive.holds import new_matter
    from storage.holds import HoldStore

    matter_id = f"M-{uuid.uuid4().hex[:8]}"
    HoldStore(seeded.archive.tables).place(new_matter(
        matter_id, Scope(participant=seeded.customer, start=seeded.day,
                         end=datetime.now(UTC).date()), "litigation", "tester",
        datetime.now(UTC)))
    out = tmp_path / "matter"
    assert cli_main(["export", "--out", str(out), "--matter", matter_id, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    manifest = json.loads((out / b.MANIFEST_FILE).read_bytes())
    assert manifest["query"]["matter"] == matter_id
    assert manifest["query"]["scope"]["participant"] == seeded.customer
    assert result["counts"]["records"] == seeded.records
    assert cli_main(["export", "--out", str(tmp_path / "x"), "--matter", "nope"]) == 2
    assert "no legal hold matter" in capsys.readouterr().err
