"""Inclusion proofs for many blobs of one seal at once.

archive.proof.build_proof recomputes subtree hashes for each proof, O(n) per proof;
an export proves thousands of blobs of the same day's seal, which would be O(n^2).
Here the tree's levels are built once (pairing left to right and carrying an odd last
node up gives RFC 6962's tree, as archive.merkle notes), and each audit path is read
off the levels in O(log n). The documents are exactly build_proof's (a unit test
compares them), so `wa-archive verify-proof` and archive.proof.verify_proof accept them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from archive.merkle import leaf_hash, node_hash
from archive.proof import PROOF_SCHEMA
from archive.seal import StoredSeal


def tree_levels(hashes: list[bytes]) -> list[list[bytes]]:
    """Level 0 is the leaf hashes; the last level holds the root alone."""
    levels = [hashes]
    while len(levels[-1]) > 1:
        level = levels[-1]
        parent = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parent.append(level[-1])  # carried up unchanged: no sibling at this level
        levels.append(parent)
    return levels


def path_from_levels(levels: list[list[bytes]], index: int) -> list[bytes]:
    """Sibling hashes from the leaf up (a carried node contributes none at its level)."""
    path: list[bytes] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index //= 2
    return path


def seal_proofs(stored: StoredSeal, seal_name: str, wanted: Iterable[tuple[str, str]]
                ) -> Iterator[tuple[tuple[str, str], dict[str, Any]]]:
    """(key, proof) for each wanted (container, name) this seal holds, one at a time (an
    export writes each before the next is built); keys the seal lacks are skipped."""
    leaves = stored.seal.leaves
    position = {leaf.key: i for i, leaf in enumerate(leaves)}
    found = [(key, position[key]) for key in wanted if key in position]
    if not found:
        return
    levels = tree_levels([leaf_hash(leaf.to_bytes()) for leaf in leaves])
    body: dict[str, Any] = json.loads(stored.signed_bytes)
    signature, seal_hash = stored.signature.hex(), stored.hash
    for key, index in found:
        yield key, {
            "schema": PROOF_SCHEMA,
            "leaf": leaves[index].to_dict(),
            "leaf_index": index,
            "tree_size": len(leaves),
            "audit_path": [h.hex() for h in path_from_levels(levels, index)],
            "seal_name": seal_name,
            "seal": body,
            "signature": signature,
            "seal_hash": seal_hash,
        }
