"""End to end: a conversation archived through devhost, sealed, exported in every format.

Signed Meta webhooks (the documented shapes of tests/fixtures/meta) go through the real
front door, queue worker and orchestrations; media comes from the Graph stand-in. Then
the days are sealed (admin/evidence.seal_one_day) and `wa-archive export` produces the
bundle, HTML and PDF transcripts and RSMF, in a folder and in a zip. Everything is
checked offline with `verify-export`, and every kind of file is tampered with once.
"""

from __future__ import annotations

import email
import hashlib
import io
import json
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # no stubs installed
from pypdf import PdfReader

from admin.connection import open_archive
from admin.evidence import seal_one_day
from admin.export import ExportOptions, run_export
from admin.export_verify import verify_export
from archive.export import bundle as b
from archive.export.transcript import local_time
from archive.names import SETTING_MANIFEST_KEY_ID
from archive.scope import Scope
from cli.main import main as cli_main
from devhost.azurite import Azurite
from storage.scope_reader import index_rows_in_scope
from storage.signing import generate_key_file, load_key_file, public_pem
from tests.e2e.pipeline_harness import DevHostProcess, send_webhook, wait_for
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.e2e

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "rsmf" / "rsmf_schema_2_0_0.json"
TZ = "Europe/London"
NAME = "Дмитрий Иванов"  # the customer's profile name, in Cyrillic
FIRM = webhooks.DISPLAY_NUMBER


@dataclass(frozen=True)
class Sent:
    docs: list[dict[str, Any]]
    texts: list[tuple[int, str]]  # (provider time, text) of every message with words
    customer: str
    day: Any


def _message(customer: str, wamid: str, ts: int, kind: str, body: dict[str, Any],
             **extra: Any) -> dict[str, Any]:
    return webhooks.envelope({
        "contacts": [{"profile": {"name": NAME}, "wa_id": customer}],
        "messages": [{"from": customer, "id": wamid, "timestamp": str(ts), "type": kind,
                      kind: body, **extra}]})


def _echo(customer: str, wamid: str, ts: int, text: str) -> dict[str, Any]:
    doc = webhooks.envelope({"message_echoes": [{
        "from": FIRM, "to": customer, "id": wamid, "timestamp": str(ts), "type": "text",
        "text": {"body": text}}]})
    doc["entry"][0]["changes"][0]["field"] = "smb_message_echoes"
    return doc


def _status(wamid: str, customer: str, value: str, ts: int, **extra: Any) -> dict[str, Any]:
    return webhooks.envelope({"statuses": [{"id": wamid, "status": value, "timestamp": str(ts),
                                            "recipient_id": customer, **extra}]})


def conversation(media: MediaServer) -> Sent:
    customer = f"4477{uuid.uuid4().int % 10**8:08d}"
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    t0 = int(datetime.combine(day, time(9), tzinfo=UTC).timestamp())
    ids = {name: f"wamid.{name}.{uuid.uuid4().hex}==" for name in (
        "hello", "image", "doc", "voice", "offer", "reply", "react", "edit", "gap", "sys",
        "order")}
    media.add("img-1", MediaItem(data=b"\xff\xd8\xff\xe0" + uuid.uuid4().bytes * 500))
    media.add("doc-1", MediaItem(data=b"%PDF-1.4\n" + uuid.uuid4().bytes * 900,
                                 mime_type="application/pdf"))
    media.add("voice-1", MediaItem(data=b"OggS" + uuid.uuid4().bytes * 300,
                                   mime_type="audio/ogg"))
    media.add("gone-1", MediaItem(data=b"x", always_404=True))
    texts = [(t0, "Hello, I would like to sell my shares"), (t0 + 60, "Signed form"),
             (t0 + 120, "Q3 statement"), (t0 + 240, "How many shares?"),
             (t0 + 300, "All 50 of them"), (t0 + 600, "Order placed")]
    docs = [
        _message(customer, ids["hello"], t0, "text", {"body": texts[0][1]}),
        _message(customer, ids["image"], t0 + 60, "image",
                 {"id": "img-1", "mime_type": "image/jpeg", "caption": "Signed form"}),
        _message(customer, ids["doc"], t0 + 120, "document",
                 {"id": "doc-1", "mime_type": "application/pdf", "caption": "Q3 statement",
                  "filename": "statement Q3.pdf"}),
        _message(customer, ids["voice"], t0 + 180, "audio",
                 {"id": "voice-1", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        _echo(customer, ids["offer"], t0 + 240, texts[3][1]),
        # Statuses of the offer out of order: read arrives before delivered.
        _status(ids["offer"], customer, "read", t0 + 290),
        _status(ids["offer"], customer, "delivered", t0 + 250),
        _message(customer, ids["reply"], t0 + 300, "text", {"body": texts[4][1]},
                 context={"from": FIRM, "id": ids["offer"]}),
        _message(customer, ids["react"], t0 + 320, "reaction",
                 {"message_id": ids["offer"], "emoji": "👍"}),
        _message(customer, ids["edit"], t0 + 360, "edit",
                 {"original_message_id": ids["hello"],
                  "message": {"type": "text", "text": {"body": "Sell 50 shares"}}}),
        _status(ids["voice"], customer, "deleted", t0 + 400),  # the customer deletes it
        _message(customer, ids["gap"], t0 + 420, "image",
                 {"id": "gone-1", "mime_type": "image/jpeg"}),
        _message(customer, ids["sys"], t0 + 480, "system",
                 {"body": "The customer changed their number", "type": "user_changed_number",
                  "wa_id": customer}),
        _echo(customer, ids["order"], t0 + 600, texts[5][1]),
        _status(ids["order"], customer, "failed", t0 + 610, errors=[{
            "code": 131026, "title": "Message undeliverable"}]),
    ]
    return Sent(docs, texts, customer, day)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("export-e2e")
    azurite = Azurite(folder / "azurite")
    azurite.start()
    media = MediaServer().start()
    host = None
    try:
        from storage.provision import ensure_archive_resources

        ensure_archive_resources(azurite.connection_string)
        host = DevHostProcess(azurite.connection_string, media.base_url,
                              folder / "devhost.log").start()
        yield folder, azurite, media, host
    finally:
        if host is not None:
            host.stop()
        media.stop()
        azurite.stop()


@pytest.fixture(scope="module")
def exported(stack: Any) -> Any:
    folder, azurite, media, host = stack
    sent = conversation(media)
    for doc in sent.docs:
        assert send_webhook(host, doc) == 200
    with pytest.MonkeyPatch.context() as mp:
        use_archive(mp, azurite.connection_string, media.base_url)
        key = folder / "seal.pem"
        generate_key_file(key)
        mp.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key}")
        mp.setenv("WA_ARCHIVE_DATA_DIR", str(folder / "data"))
        archive = open_archive()
        scope = Scope(business_id=webhooks.PHONE_NUMBER_ID, customer_id=sent.customer,
                      start=sent.day, end=datetime.now(UTC).date())
        wait_for("every event archived", lambda: (
            len(list(index_rows_in_scope(archive.tables, scope))) >= len(sent.docs)), 180)
        today = datetime.now(UTC).date()
        seal_one_day(archive, sent.day)
        # The raw bodies were received today: seal today early, as the timer would tonight.
        seal_one_day(archive, today, today=today + timedelta(days=1))
        public = folder / "seal.pub.pem"
        public.write_bytes(public_pem(load_key_file(key).public_key()))
        out = folder / "production"
        result = run_export(archive, ExportOptions(
            out=out, scope=scope, formats=b.FORMATS, tz_name=TZ))
        yield sent, archive, scope, out, result, public, folder


def test_bundle_verifies_offline_and_holds_everything(exported: Any) -> None:
    sent, _archive, _scope, out, result, public, _ = exported
    check = verify_export(out, public)
    assert check.ok, check.findings
    manifest = json.loads((out / b.MANIFEST_FILE).read_bytes())
    assert manifest["counts"]["records"] == len(sent.docs) == check.records
    assert manifest["unsealed"] == [] and check.proofs == len(manifest["blobs"])
    assert [g["state"] for g in manifest["media_gaps"]] == ["unavailable"]
    assert manifest["counts"]["media"] == 3 and manifest["time_zone"] == TZ
    paths = {f["path"] for f in manifest["files"]}
    assert {p.split("/")[0] for p in paths} >= {"media", "raw", "proofs", "transcripts", "rsmf"}
    transcripts = sorted(p for p in paths if p.startswith("transcripts/"))
    assert [p.rsplit(".", 1)[1] for p in transcripts] == ["html", "pdf"]
    assert result.manifest_sha256 == hashlib.sha256(
        (out / b.MANIFEST_FILE).read_bytes()).hexdigest()


VICTIMS = {"records": b.RECORDS_FILE, "media": "media/", "raw": "raw/",
           "proof": "proofs/media/", "seal": "proofs/seals/", "html": "transcripts/",
           "pdf": "transcripts/", "rsmf": "rsmf/"}


@pytest.mark.parametrize("victim", sorted(VICTIMS))
def test_one_changed_byte_anywhere_fails_and_names_the_file(exported: Any, tmp_path: Path,
                                                            victim: str) -> None:
    _, _, _, out, _, public, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / b.MANIFEST_FILE).read_bytes())
    target = next(f["path"] for f in manifest["files"] if f["path"].startswith(
        VICTIMS[victim]) and (victim not in ("html", "pdf") or f["path"].endswith(victim)))
    data = bytearray((copy / target).read_bytes())
    data[len(data) // 2] ^= 0x20
    (copy / target).write_bytes(bytes(data))
    check = verify_export(copy, public)
    assert not check.ok and target in {f.path for f in check.findings}
    assert cli_main(["verify-export", str(copy), "--public-key", str(public), "--json"]) == 1


def _words(text: str) -> str:
    return " ".join(text.split())


def test_transcripts_hold_every_message_in_order_with_local_times(exported: Any) -> None:
    sent, _, _, out, _, _, _ = exported
    html = next((out / "transcripts").glob("*.html")).read_text(encoding="utf-8")
    pdf = next((out / "transcripts").glob("*.pdf")).read_bytes()
    pdf_text = _words(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    tz = ZoneInfo(TZ)
    for rendered in (_words(html), pdf_text):
        positions = [rendered.find(text) for _, text in sent.texts]
        assert -1 not in positions and positions == sorted(positions)
        for ts, _ in sent.texts:
            assert local_time(datetime.fromtimestamp(ts, UTC), tz) in rendered
    assert NAME in html and "Sell 50 shares" in html


def _rsmf(data: bytes) -> tuple[dict[str, Any], zipfile.ZipFile]:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    (part,) = list(message.iter_attachments())
    archive = zipfile.ZipFile(io.BytesIO(part.get_content()))
    return json.loads(archive.read("rsmf_manifest.json")), archive


def test_rsmf_manifest_validates_and_its_attachments_are_the_media(exported: Any) -> None:
    sent, _, _, out, _, _, _ = exported
    (rsmf_file,) = list((out / "rsmf").glob("*.rsmf"))
    manifest, archive = _rsmf(rsmf_file.read_bytes())
    validator = Draft7Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")),
                                format_checker=Draft7Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(manifest)) == []
    named = {a["id"] for e in manifest["events"] for a in e.get("attachments", ())}
    assert named == set(archive.namelist()) - {"rsmf_manifest.json"} and len(named) == 3
    media = {p.name.split(".")[0]: p.read_bytes() for p in (out / "media").iterdir()}
    for name in named:
        data = archive.read(name)
        assert media[hashlib.sha256(data).hexdigest()] == data
    bodies = " ".join(str(e.get("body", "")) for e in manifest["events"])
    assert all(text in bodies for _, text in sent.texts)


def test_zip_form_holds_the_same_files(exported: Any) -> None:
    sent, _archive, scope, out, _, public, folder = exported
    zipped = folder / "production.zip"
    assert cli_main(["export", "--out", str(zipped), "--business", webhooks.PHONE_NUMBER_ID,
                     "--customer", sent.customer, "--from", str(scope.start), "--to",
                     str(scope.end), "--tz", TZ, "--format", "bundle,html,pdf,rsmf",
                     "--json"]) == 0
    assert verify_export(zipped, public).ok
    folder_files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    with zipfile.ZipFile(zipped) as packed:
        assert set(packed.namelist()) == folder_files
        for name in folder_files:
            if name.startswith(("media/", "raw/", "proofs/", b.RECORDS_FILE, b.INDEX_FILE)):
                assert packed.read(name) == (out / name).read_bytes(), name


def test_interrupted_export_leaves_only_partial_and_resumes_identically(
        exported: Any) -> None:
    _, archive, scope, out, _, public, folder = exported
    target = folder / "interrupted"
    options = ExportOptions(out=target, scope=scope, formats=b.FORMATS, tz_name=TZ)
    seen: list[str] = []

    def fail(rel: str) -> None:
        seen.append(rel)
        if len(seen) == 12:
            raise OSError("disk unplugged")

    with pytest.raises(OSError, match="disk unplugged"):
        run_export(archive, options, on_file=fail)
    assert not target.exists() and (folder / "interrupted.partial").is_dir()
    partial_files = {p.name for p in (folder / "interrupted.partial").rglob("*")}
    assert b.MANIFEST_FILE not in partial_files  # nothing looks complete
    state = json.loads((folder / "interrupted.partial" / ".export-state" / "state.json"
                        ).read_text())
    resumed = run_export(archive, options)
    assert resumed.resumed and verify_export(target, public).ok
    manifest = json.loads((target / b.MANIFEST_FILE).read_bytes())
    assert manifest["export_id"] == state["export_id"]
    assert manifest["created_at"] == state["created_at"]
    # Same files as the uninterrupted export, byte for byte where no export id is inside.
    original = json.loads((out / b.MANIFEST_FILE).read_bytes())

    def core(m: dict[str, Any]) -> dict[str, Any]:
        counts = {k: v for k, v in m["counts"].items() if k != "bytes"}
        return {"blobs": m["blobs"], "seals": m["seals"], "counts": counts,
                "files": [f for f in m["files"] if not f["path"].startswith(
                    ("transcripts/", "rsmf/"))], "query": m["query"]}

    assert core(manifest) == core(original)
