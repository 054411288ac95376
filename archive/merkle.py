"""Merkle tree hash, audit paths and inclusion-proof checks (RFC 6962 §2.1, RFC 9162 §2.1).

Leaves are hashed as H(0x00 || leaf) and interior nodes as H(0x01 || left || right),
so a leaf can never be passed off as an interior node (second-preimage resistance).
H is SHA-256. The empty tree's hash is H(""). For n > 1 leaves the left subtree holds
the largest power of two strictly below n; the right subtree holds the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    """The tree hash over already leaf-hashed entries, bottom-up in O(n).

    Pairing each level left to right and carrying an odd last node up unchanged gives
    exactly RFC 6962's recursive split (tested against the recursive definition).
    """
    if not hashes:
        return hashlib.sha256(b"").digest()
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the raw leaf bytes."""
    return root_from_hashes([leaf_hash(leaf) for leaf in leaves])


def _subtree(hashes: Sequence[bytes], start: int, end: int) -> bytes:
    return root_from_hashes(hashes[start:end])


def audit_path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) over leaf hashes: sibling subtree hashes, from the leaf up."""
    n = len(hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of {n} leaves")
    path: list[bytes] = []
    start, end = 0, n
    # Walk down from the root, remembering each sibling; the path lists them bottom-up.
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_subtree(hashes, start + k, end))
            end = start + k
        else:
            path.append(_subtree(hashes, start, start + k))
            start = start + k
    path.reverse()
    return path


def root_from_path(
    leaf_digest: bytes, index: int, size: int, path: Sequence[bytes]
) -> bytes | None:
    """The root an inclusion path implies (RFC 9162 §2.1.3.2), or None if it cannot fit."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf_digest
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True when `leaf` sits at `index` of the `size`-leaf tree whose hash is `root`."""
    return root_from_path(leaf_hash(leaf), index, size, path) == root
