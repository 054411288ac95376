"""Offline inclusion proofs: one blob, the seal that holds it, and the signature.

A proof lets an auditor check, with nothing but the public key, that a blob (say a
record) is exactly the one sealed on its day:

1. sha256 and size of the blob's bytes equal the proof's `leaf`;
2. the leaf, its index and the audit path recompute the seal's `root` (RFC 9162);
3. the seal body (canonical JSON) verifies under the ES256 signature.

`seal_hash` is the sha256 of those bytes: the chain's link, to compare with the
`previous` of the next seal when the whole chain is at hand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from archive.canonical import canonical_json, sha256_hex
from archive.merkle import audit_path, leaf_hash, root_from_path
from archive.seal import Leaf, SealError, StoredSeal, Verifier

PROOF_SCHEMA = "wa-archive/proof@1"


def build_proof(stored: StoredSeal, seal_name: str, container: str, name: str) -> dict[str, Any]:
    """The inclusion proof of blob `container/name` in `stored`; KeyError if absent."""
    leaves = stored.seal.leaves
    index = next((i for i, leaf in enumerate(leaves) if leaf.key == (container, name)), None)
    if index is None:
        raise KeyError(f"{container}/{name} is not in {seal_name}")
    hashes = [leaf_hash(leaf.to_bytes()) for leaf in leaves]
    return {
        "schema": PROOF_SCHEMA,
        "leaf": leaves[index].to_dict(),
        "leaf_index": index,
        "tree_size": len(leaves),
        "audit_path": [h.hex() for h in audit_path(hashes, index)],
        "seal_name": seal_name,
        "seal": _body(stored),
        "signature": stored.signature.hex(),
        "seal_hash": stored.hash,
    }


def _body(stored: StoredSeal) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(stored.signed_bytes)
    return body


@dataclass(frozen=True)
class ProofResult:
    problems: tuple[str, ...]
    leaf: Leaf | None
    seal_day: str
    record_checked: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_proof(proof: Any, verify: Verifier, blob: bytes | None = None) -> ProofResult:
    """Check a proof document; with `blob`, also that these bytes are the sealed leaf."""
    problems: list[str] = []
    if not isinstance(proof, dict) or proof.get("schema") != PROOF_SCHEMA:
        return ProofResult(("not a wa-archive proof document",), None, "", False)
    seal = proof.get("seal")
    if not isinstance(seal, dict):
        return ProofResult(("the proof holds no seal",), None, "", False)
    try:
        leaf = Leaf.from_dict(proof.get("leaf"))
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(str(p)) for p in proof.get("audit_path", [])]
        signature = bytes.fromhex(str(proof.get("signature", "")))
    except (SealError, KeyError, TypeError, ValueError) as exc:
        return ProofResult((f"malformed proof: {exc}",), None, str(seal.get("day", "")), False)
    signed = canonical_json(seal)
    if not verify(signed, signature):
        problems.append("the seal's signature does not verify with this public key")
    if size != seal.get("tree_size"):
        problems.append("the proof's tree size is not the seal's")
    root = root_from_path(leaf_hash(leaf.to_bytes()), index, size, path)
    if root is None or root.hex() != seal.get("root"):
        problems.append("the audit path does not lead to the seal's Merkle root")
    if proof.get("seal_hash") not in (None, sha256_hex(signed)):
        problems.append("seal_hash is not the sha256 of the seal")
    if blob is not None and (
        len(blob) != leaf.size or hashlib.sha256(blob).hexdigest() != leaf.sha256
    ):
        problems.append("the blob's bytes are not the sealed ones (sha256 or size differ)")
    return ProofResult(tuple(problems), leaf, str(seal.get("day", "")), blob is not None)
