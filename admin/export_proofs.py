"""The export's proofs: one inclusion proof per blob, the seals, the public keys.

Blobs are grouped by the UTC day of their partition; each day's seals are read once
(only that day's leaves are in memory at a time) and every proof of a seal comes from
one build of its tree (archive/export/bundle_proofs.py). A proof is written exactly as
`wa-archive prove` writes one, so `wa-archive verify-proof` and the 20-line script in
docs/evidence.md check it too. A blob no seal holds yet (today's, or a day the timer has
not sealed) gets no proof and is listed under `unsealed` in the manifest.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from admin.connection import AdminError, Archive
from admin.evidence import export_public_keys, public_keys
from admin.export_files import Staging
from archive.export import bundle as b
from archive.export.bundle_proofs import seal_proofs
from archive.names import SEALS_CONTAINER
from archive.seal import SealError, StoredSeal
from storage.sealing import SealChain, SealEntry


def proof_bytes(proof: dict[str, Any]) -> bytes:
    return (json.dumps(proof, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


class ProofWriter:
    def __init__(self, archive: Archive, staging: Staging, data_dir: Path | None) -> None:
        self.archive = archive
        self.staging = staging
        self.data_dir = data_dir
        self.chain = SealChain(archive.container(SEALS_CONTAINER))

    def _seals_of(self, entries: list[SealEntry], day: date) -> list[tuple[str, StoredSeal]]:
        found: list[tuple[str, StoredSeal]] = []
        for entry in entries:
            if entry.day is not None and entry.day != day.isoformat():
                continue
            def read(name: str = entry.name) -> StoredSeal:
                return self.chain.read(name)

            try:
                stored = self.archive.call("blob", "read a seal", read)
            except SealError:
                continue  # `wa-archive verify` names it; it vouches for nothing
            if stored.seal.day == day:
                found.append((entry.name, stored))
        return found

    def write(self, blobs: list[b.BlobFact]) -> tuple[list[b.BlobFact], list[dict[str, Any]]]:
        """The blobs with their proof file and seal; the seals used (manifest entries)."""
        entries = self.archive.call("blob", "list the seals", self.chain.entries)
        by_day: dict[date | None, list[int]] = defaultdict(list)
        for position, blob in enumerate(blobs):
            by_day[b.day_of_blob(blob.name)].append(position)
        out = list(blobs)
        used: dict[int, dict[str, Any]] = {}
        for day in sorted(d for d in by_day if d is not None):
            positions = by_day[day]
            wanted = {(blobs[p].container, blobs[p].name): p for p in positions}
            for seal_name, stored in self._seals_of(entries, day):
                proved = 0
                for key, proof in seal_proofs(stored, seal_name, list(wanted)):
                    proved += 1
                    position = wanted.pop(key)
                    blob = blobs[position]
                    leaf = proof["leaf"]
                    if (leaf["sha256"], leaf["size"]) != (blob.sha256, blob.size):
                        raise AdminError(
                            f"a {blob.container} blob no longer matches its seal "
                            f"({seal_name}): run `wa-archive verify`")
                    rel = b.proof_file(blob.container, blob.name)
                    self.staging.write_bytes(rel, proof_bytes(proof))
                    out[position] = replace(blob, proof=rel, seal_seq=stored.seal.seq)
                if proved:
                    used[stored.seal.seq] = self._seal_file(seal_name, stored)
        if used:
            self._keys()
        return out, [used[seq] for seq in sorted(used)]

    def _seal_file(self, seal_name: str, stored: StoredSeal) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(stored.signed_bytes)
        rel = b.seal_file(stored.seal.seq)
        doc = b.seal_document(body, stored.signature.hex())
        self.staging.write_bytes(rel, proof_bytes(doc))
        return {"seq": stored.seal.seq, "day": stored.seal.day.isoformat(),
                "kind": stored.seal.kind, "name": seal_name, "file": rel,
                "root": stored.declared_root, "seal_hash": stored.hash}

    def _keys(self) -> None:
        """The public keys the exporter had, for convenience: an auditor should verify
        with a copy obtained independently (`verify-export --public-key`)."""
        try:
            keys = public_keys(self.data_dir)
        except AdminError:
            return  # verify-export then needs --public-key; the README says so
        pem = export_public_keys(keys, None)["pem"]
        self.staging.write_bytes(b.PUBLIC_KEYS_FILE, str(pem).encode("ascii"))
