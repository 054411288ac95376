"""`wa-archive verify-export`: check a bundle (folder or zip) offline.

No storage access at all: this module reads the bundle, streams every file through
SHA-256 (4 MiB at a time, so a large media file is never held whole) and hands the
facts to the pure checks in archive/export/bundle_check.py.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from admin.connection import AdminError
from admin.evidence import verifier_for
from admin.export_files import CHUNK
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
from storage.signing import load_public_pems


@dataclass
class ExportCheck:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    records: int = 0
    proofs: int = 0
    unsealed: int = 0
    seals: int = 0
    key_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "bytes": self.bytes,
                "records": self.records, "proofs_checked": self.proofs,
                "unsealed": self.unsealed, "seals": self.seals, "key_source": self.key_source,
                "findings": [f.to_dict() for f in self.findings]}


class Bundle:
    """A bundle's files, in a folder or a zip, by relative POSIX path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.unsafe: list[str] = []
        if path.is_dir():
            self.names = sorted(p.relative_to(path).as_posix()
                                for p in path.rglob("*") if p.is_file())
        elif path.is_file() and zipfile.is_zipfile(path):
            self.zip = zipfile.ZipFile(path)
            names = [i.filename for i in self.zip.infolist() if not i.is_dir()]
            self.unsafe = [n for n in names if not b.is_bundle_path(n)]
            self.names = sorted(n for n in names if b.is_bundle_path(n))
        else:
            raise AdminError(f"{path} is neither an export folder nor a zip")

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    @contextmanager
    def open(self, rel: str) -> Iterator[IO[bytes]]:
        if self.zip is not None:
            with self.zip.open(rel) as handle:
                yield handle
        else:
            with (self.path / rel).open("rb") as handle:
                yield handle

    def read(self, rel: str) -> bytes | None:
        if rel not in self.names:
            return None
        with self.open(rel) as handle:
            return handle.read()

    def fact(self, rel: str) -> b.FileFact:
        digest, size = hashlib.sha256(), 0
        with self.open(rel) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return b.FileFact(rel, size, digest.hexdigest())

    def lines(self, rel: str) -> list[tuple[int, str]]:
        if rel not in self.names:
            return []
        with self.open(rel) as handle:
            return [line_fact(line) for line in handle]


def _keys(bundle: Bundle, public_key: Path | None) -> tuple[list[Any], str]:
    if public_key is not None:
        try:
            return load_public_pems(public_key.read_bytes()), str(public_key)
        except (OSError, ValueError) as exc:
            raise AdminError(f"cannot read the public key {public_key}: {exc}") from None
    bundled = bundle.read(b.PUBLIC_KEYS_FILE)
    if bundled is None:
        return [], ""
    try:
        return load_public_pems(bundled), b.PUBLIC_KEYS_FILE
    except ValueError:
        return [], ""


def verify_export(path: Path, public_key: Path | None = None) -> ExportCheck:
    bundle = Bundle(path)
    try:
        return _verify(bundle, public_key)
    finally:
        bundle.close()


def _verify(bundle: Bundle, public_key: Path | None) -> ExportCheck:
    check = ExportCheck()
    check.findings += [Finding(n, "unsafe path in the zip") for n in bundle.unsafe]
    data = bundle.read(b.MANIFEST_FILE)
    if data is None:
        check.findings.append(Finding(b.MANIFEST_FILE, "missing"))
        return check
    manifest, problems = parse_manifest(data)
    check.findings += problems
    if manifest is None:
        return check
    facts = {rel: bundle.fact(rel) for rel in bundle.names}
    check.files, check.bytes = len(facts), sum(f.size for f in facts.values())
    check.findings += check_files(manifest, facts)
    keys, check.key_source = _keys(bundle, public_key)
    if not keys:
        check.findings.append(Finding(b.PUBLIC_KEYS_FILE, "no public key to check the seals "
                                                          "with: pass --public-key key.pem"))
    verify = cached(verifier_for(keys))
    seals: dict[int, dict[str, Any]] = {}
    for rel in (n for n in bundle.names if n.startswith(b.SEALS_DIR)):
        body, problems = check_seal_file(rel, bundle.read(rel) or b"", verify)
        check.findings += problems
        if body is not None and isinstance(body.get("seq"), int):
            seals[body["seq"]] = body
    check.seals = len(seals)
    lines = bundle.lines(b.RECORDS_FILE)
    check.records = len(lines)
    check.findings += check_lines(manifest, lines)
    for blob in manifest["blobs"]:
        line = blob.get("line")
        if isinstance(line, int):
            fact = lines[line - 1] if 0 < line <= len(lines) else None
        else:
            file_fact = facts.get(str(blob.get("file")))
            fact = (file_fact.size, file_fact.sha256) if file_fact else None
        proof = blob.get("proof")
        proof_data = bundle.read(str(proof)) if isinstance(proof, str) else None
        check.findings += check_blob(blob, proof_data, seals, verify, fact)
        if proof is None:
            check.unsealed += 1
        else:
            check.proofs += 1
    return check
