"""Offline checks of an export bundle, given facts about its files (pure).

admin/export_verify.py walks the folder or zip, streams every file through SHA-256 and
hands the facts here; nothing in this module touches a file or storage. Each problem is
a Finding naming the bundle file (and, inside records.jsonl, the line) and the reason.

What is checked:
- manifest.json parses and has the bundle's shape;
- every file the manifest lists is there with its size and SHA-256, and no other file is;
- every seal in proofs/seals/ verifies under the public key(s);
- every proof is a valid inclusion proof (archive.proof) under a bundled seal, for the
  very bytes in the bundle: records.jsonl line n, media/<sha>.<ext>, raw/<sha>.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archive.canonical import canonical_json, sha256_hex
from archive.export.bundle import (
    BUNDLE_SCHEMA,
    MANIFEST_FILE,
    RECORDS_FILE,
    FileFact,
    is_bundle_path,
)
from archive.proof import verify_proof
from archive.seal import Verifier


@dataclass(frozen=True)
class Finding:
    path: str  # the bundle file concerned (records.jsonl:<line> for a record)
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def cached(verify: Verifier) -> Verifier:
    """Every proof of a seal carries the same signed body: verify each body once."""
    seen: dict[tuple[bytes, bytes], bool] = {}

    def check(data: bytes, signature: bytes) -> bool:
        key = (data, signature)
        if key not in seen:
            seen[key] = verify(data, signature)
        return seen[key]

    return check


def parse_manifest(data: bytes) -> tuple[dict[str, Any] | None, list[Finding]]:
    try:
        manifest = json.loads(data)
    except ValueError:
        return None, [Finding(MANIFEST_FILE, "not JSON")]
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        return None, [Finding(MANIFEST_FILE, f"not a {BUNDLE_SCHEMA} manifest")]
    files, blobs = manifest.get("files"), manifest.get("blobs")
    if not isinstance(files, list) or not isinstance(blobs, list) or not all(
            isinstance(f, dict) for f in files) or not all(isinstance(b, dict) for b in blobs):
        return None, [Finding(MANIFEST_FILE, "files or blobs missing or malformed")]
    return manifest, []


def check_files(manifest: Mapping[str, Any], facts: Mapping[str, FileFact]) -> list[Finding]:
    """Listed files present with their size and hash; nothing unlisted but the manifest."""
    findings: list[Finding] = []
    listed: set[str] = set()
    for entry in manifest["files"]:
        path = str(entry.get("path", ""))
        if not is_bundle_path(path):
            findings.append(Finding(path or "?", "the manifest lists an unsafe path"))
            continue
        listed.add(path)
        fact = facts.get(path)
        if fact is None:
            findings.append(Finding(path, "missing (listed in the manifest)"))
        elif fact.size != entry.get("size"):
            findings.append(Finding(path, f"size {fact.size}, manifest says {entry.get('size')}"))
        elif fact.sha256 != entry.get("sha256"):
            findings.append(Finding(path, "sha256 differs from the manifest"))
    for path in sorted(set(facts) - listed - {MANIFEST_FILE}):
        findings.append(Finding(path, "extra file (not in the manifest)"))
    return findings


def check_seal_file(path: str, data: bytes, verify: Verifier
                    ) -> tuple[dict[str, Any] | None, list[Finding]]:
    """A bundled seal: {"seal": body, "signature": hex}; the body if its signature holds."""
    try:
        doc = json.loads(data)
        body, signature = doc["seal"], bytes.fromhex(str(doc["signature"]))
        if not isinstance(body, dict):
            raise TypeError("seal is not an object")
    except (ValueError, KeyError, TypeError):
        return None, [Finding(path, "not a seal document")]
    if not verify(canonical_json(body), signature):
        return body, [Finding(path, "the seal's signature does not verify with the public key")]
    return body, []


def _same_seal(proof: Mapping[str, Any], seals: Mapping[int, dict[str, Any]]) -> bool:
    seal = proof.get("seal")
    if not isinstance(seal, dict):
        return False
    seq = seal.get("seq")
    bundled = seals.get(seq) if isinstance(seq, int) else None
    return bundled is not None and canonical_json(bundled) == canonical_json(seal)


def check_blob(
    blob: Mapping[str, Any], proof_data: bytes | None,
    seals: Mapping[int, dict[str, Any]], verify: Verifier,
    bytes_fact: tuple[int, str] | None,
) -> list[Finding]:
    """One archived blob: its bytes in the bundle (`bytes_fact`: size, sha256 of the file
    or the records.jsonl line) are what the manifest says, and its proof holds them."""
    line = blob.get("line")
    where = f"{RECORDS_FILE}:{line}" if line is not None else str(blob.get("file"))
    findings: list[Finding] = []
    size, sha = blob.get("size"), blob.get("sha256")
    if bytes_fact is None:
        return [Finding(where, "the blob's bytes are not in the bundle")]
    if bytes_fact != (size, sha):
        findings.append(Finding(where, "the bytes differ from the archived blob's sha256/size"))
    proof_path = blob.get("proof")
    if proof_path is None:
        return findings  # listed as unsealed in the manifest: nothing to prove yet
    if proof_data is None:
        return [*findings, Finding(str(proof_path), "missing proof")]
    try:
        proof = json.loads(proof_data)
    except ValueError:
        return [*findings, Finding(str(proof_path), "the proof is not JSON")]
    result = verify_proof(proof, verify)
    findings += [Finding(str(proof_path), problem) for problem in result.problems]
    leaf = result.leaf
    if leaf is not None and (leaf.container, leaf.name) != (blob.get("container"),
                                                            blob.get("name")):
        findings.append(Finding(str(proof_path), "the proof is for another blob"))
    if leaf is not None and (leaf.size, leaf.sha256) != bytes_fact:
        findings.append(Finding(where, "the bytes are not the sealed ones (proof leaf differs)"))
    if not _same_seal(proof, seals):
        findings.append(Finding(str(proof_path), "its seal is not one of proofs/seals/"))
    return findings


def check_lines(manifest: Mapping[str, Any], lines: Sequence[tuple[int, str]]) -> list[Finding]:
    """Every records.jsonl line belongs to exactly one record entry, and vice versa."""
    claimed = sorted(int(b["line"]) for b in manifest["blobs"]
                     if b.get("container") == "records" and isinstance(b.get("line"), int))
    if claimed != list(range(1, len(lines) + 1)):
        return [Finding(RECORDS_FILE, f"{len(lines)} lines, but the manifest lists "
                                      f"{len(claimed)} records for lines 1..{len(claimed)}")]
    return []


def line_fact(line: bytes) -> tuple[int, str]:
    """(size, sha256) of a records.jsonl line without its newline: the stored record."""
    record = line[:-1] if line.endswith(b"\n") else line
    return len(record), sha256_hex(record)

