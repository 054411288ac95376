"""The bundle's pure parts: names, index.csv rows, batch proofs, manifest checks."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.canonical import canonical_json
from archive.export import bundle as b
from archive.export.bundle_check import (
    Finding,
    cached,
    check_blob,
    check_files,
    check_lines,
    check_seal_file,
    line_fact,
    parse_manifest,
)
from archive.export.bundle_proofs import seal_proofs
from archive.export.bundle_readme import readme_text
from archive.proof import build_proof, verify_proof
from archive.seal import Leaf, StoredSeal, new_seal, parse_seal_document

pytestmark = pytest.mark.unit

SIG = b"\x01" * 64


def _ok(_data: bytes, signature: bytes) -> bool:
    return signature == SIG


def _stored(count: int) -> tuple[StoredSeal, list[Leaf]]:
    leaves = [Leaf("records", f"year=2026/month=01/day=02/r{i:04d}.json", i + 1,
                   hashlib.sha256(str(i).encode()).hexdigest()) for i in range(count)]
    seal = new_seal(None, date(2026, 1, 2), "primary", leaves, key_id="k",
                    sealed_at="2026-01-03T01:30:00+00:00")
    return parse_seal_document(seal.document(SIG)), leaves


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 8, 13, 64, 100])
def test_batch_proofs_are_exactly_build_proof(count: int) -> None:
    stored, leaves = _stored(count)
    keys = [leaf.key for leaf in leaves]
    proofs = dict(seal_proofs(stored, "daily/0000000001.json", keys))
    assert set(proofs) == set(keys)
    for leaf in leaves:
        expected = build_proof(stored, "daily/0000000001.json", *leaf.key)
        assert proofs[leaf.key] == expected
        assert verify_proof(proofs[leaf.key], _ok).ok


def test_batch_proofs_skip_blobs_the_seal_does_not_hold() -> None:
    stored, _ = _stored(3)
    assert list(seal_proofs(stored, "s", [("media", "nope")])) == []


@given(st.text())
def test_csv_cells_never_start_a_formula(text: str) -> None:
    cell = b.csv_safe(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.removeprefix("'") == text or cell == text


def test_index_row_local_and_utc_times_and_escaping() -> None:
    record = {"timestamp": "2026-07-01T12:00:00Z", "conversation": {"key": "1~~2"},
              "from": "2", "to": "1", "direction": "inbound", "event": "message",
              "type": "text", "content": {"text": "@SUM(A1)"}, "message_id": "wamid.x",
              "media": []}
    row = b.index_row(record, "year=2026/x.json", tz=ZoneInfo("Europe/London"),
                      latest="read", media_files=["media/a.jpg"])
    assert row[:2] == ["2026-07-01T13:00:00+01:00", "2026-07-01T12:00:00Z"]
    assert row[8] == "'@SUM(A1)" and row[9] == "read" and row[10] == "media/a.jpg"
    parsed = next(csv.reader(io.StringIO(b.csv_bytes([row]).decode())))
    assert parsed == row
    assert b.index_header().startswith(b"\xef\xbb\xbf")


def test_latest_status_follows_the_index_rule_not_arrival() -> None:
    rows = [{"event": "status", "message_id": "m", "timestamp": "2026-01-01T00:00:09Z",
             "status": "delivered"},
            {"event": "status", "message_id": "m", "timestamp": "2026-01-01T00:00:05Z",
             "status": "read"},
            {"event": "message", "message_id": "m", "timestamp": "2026-01-01T00:00:01Z"}]
    assert b.latest_status(rows) == {"m": "read"}


def test_names_and_formats() -> None:
    sha = "a" * 64
    assert b.media_file(sha, "year=2026/x/123.jpg", "image/jpeg") == f"media/{sha}.jpg"
    assert b.media_file(sha, "year=2026/x/123", "application/pdf") == f"media/{sha}.pdf"
    assert b.media_file(sha, "x/1.j/../p", None) == f"media/{sha}.bin"
    assert b.raw_file(sha) == f"raw/{sha}.json"
    assert b.proof_file("media", "n") != b.proof_file("raw", "n")
    assert b.transcript_file("1~~2", "pdf", date(2026, 1, 2)) == "transcripts/1~~2_2026-01-02.pdf"
    assert b.rsmf_file("1~~2", None, 2, 3) == "rsmf/1~~2_part002.rsmf"
    assert b.transcript_file("../etc", "html").count("/") == 1
    assert b.parse_formats("pdf,html") == ("bundle", "html", "pdf")
    with pytest.raises(b.BundleError):
        b.parse_formats("docx")
    for bad in ("", "/abs", "a/../b", "a//b", "a\\b", "."):
        assert not b.is_bundle_path(bad)
    assert b.day_of_blob("year=2026/month=02/day=30/x") is None
    assert b.day_of_blob("year=2026/month=02/day=03/x") == date(2026, 2, 3)


def test_record_lines_refuse_line_breaks() -> None:
    assert b.record_line(b'{"a":"x\\ny"}') == b'{"a":"x\\ny"}\n'
    with pytest.raises(b.BundleError):
        b.record_line(b'{"a":\n1}')
    assert line_fact(b"abc\n") == (3, hashlib.sha256(b"abc").hexdigest())


def _manifest(blob: dict[str, object], files: list[b.FileFact]) -> dict[str, object]:
    return b.build_manifest(
        export_id="e", query={}, created_by="me", created_at="2026-01-03T00:00:00+00:00",
        tz_name="UTC", formats=("bundle",), period="range", tool="t", files=files,
        blobs=[b.BlobFact(**blob)], gaps=[], seals=[], conversations=1)  # type: ignore[arg-type]


def test_checks_name_the_file_and_reason() -> None:
    stored, leaves = _stored(4)
    leaf = leaves[2]
    proof = dict(seal_proofs(stored, "s", [leaf.key]))[leaf.key]
    proof_path = b.proof_file(*leaf.key)
    files = [b.FileFact(b.RECORDS_FILE, 10, "f" * 64), b.FileFact(proof_path, 5, "e" * 64)]
    manifest = _manifest({"container": "records", "name": leaf.name, "size": leaf.size,
                          "sha256": leaf.sha256, "file": b.RECORDS_FILE, "line": 1,
                          "proof": proof_path, "seal_seq": 1}, files)
    parsed, problems = parse_manifest(json.dumps(manifest).encode())
    assert parsed is not None and not problems
    facts = {f.path: f for f in files}
    assert check_files(parsed, facts) == []
    facts["extra.txt"] = b.FileFact("extra.txt", 1, "0" * 64)
    facts[proof_path] = b.FileFact(proof_path, 5, "d" * 64)
    assert check_files(parsed, facts) == [
        Finding(proof_path, "sha256 differs from the manifest"),
        Finding("extra.txt", "extra file (not in the manifest)")]
    body = json.loads(stored.signed_bytes)
    seals = {1: body}
    blob = parsed["blobs"][0]
    good = (leaf.size, leaf.sha256)
    assert check_blob(blob, json.dumps(proof).encode(), seals, _ok, good) == []
    wrong = check_blob(blob, json.dumps(proof).encode(), seals, _ok, (leaf.size, "0" * 64))
    assert Finding("records.jsonl:1", "the bytes differ from the archived blob's sha256/size"
                   ) in wrong
    forged = dict(proof, signature="02" * 64)
    reasons = {f.reason for f in check_blob(blob, json.dumps(forged).encode(), seals, _ok,
                                            good)}
    assert "the seal's signature does not verify with this public key" in reasons
    assert check_blob(blob, json.dumps(proof).encode(), {}, _ok, good) == [
        Finding(proof_path, "its seal is not one of proofs/seals/")]
    assert check_lines(parsed, [good]) == []
    assert check_lines(parsed, [good, good])[0].path == b.RECORDS_FILE
    doc = canonical_json(b.seal_document(body, SIG.hex()))
    assert check_seal_file("proofs/seals/1.json", doc, _ok) == (body, [])
    assert check_seal_file("s", doc, lambda _d, _s: False)[1][0].reason.startswith("the seal's")


def test_cached_verifier_verifies_each_body_once() -> None:
    calls: list[bytes] = []

    def verify(data: bytes, _signature: bytes) -> bool:
        calls.append(data)
        return True

    check = cached(verify)
    assert check(b"a", b"s") and check(b"a", b"s") and check(b"b", b"s")
    assert calls == [b"a", b"b"]


def test_readme_explains_both_ways_and_csv_safety() -> None:
    text = readme_text()
    assert "wa-archive verify-export" in text and "sha256sum -c" in text
    assert "apostrophe" in text and "RFC 9162" in text
