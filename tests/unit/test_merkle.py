"""RFC 6962/9162 Merkle trees: root, audit paths and inclusion proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.merkle import (
    audit_path,
    leaf_hash,
    node_hash,
    root_from_hashes,
    tree_root,
    verify_inclusion,
)

pytestmark = pytest.mark.unit

leaves_st = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written as the recursive definition."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


def test_empty_and_single_leaf_follow_the_rfc() -> None:
    assert tree_root([]) == hashlib.sha256(b"").digest()
    assert tree_root([b"a"]) == hashlib.sha256(b"\x00a").digest()
    assert tree_root([b"a", b"b"]) == hashlib.sha256(
        b"\x01" + leaf_hash(b"a") + leaf_hash(b"b")).digest()


def test_three_leaves_split_two_then_one() -> None:
    a, b, c = leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")
    assert tree_root([b"a", b"b", b"c"]) == node_hash(node_hash(a, b), c)
    assert audit_path([a, b, c], 2) == [node_hash(a, b)]
    assert audit_path([a, b, c], 0) == [b, c]


def test_rfc6962_reference_vectors() -> None:
    """The 8-leaf test tree of certificate-transparency-go (merkle/rfc6962 tests)."""
    leaves = [bytes.fromhex(h) for h in (
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f")]
    assert tree_root(leaves[:1]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert tree_root(leaves).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


@given(leaves_st)
def test_bottom_up_root_equals_recursive_definition(leaves: list[bytes]) -> None:
    assert tree_root(leaves) == reference_root(leaves)


@given(leaves_st, st.data())
def test_every_audit_path_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    root = root_from_hashes(hashes)
    index = data.draw(st.integers(0, len(leaves) - 1))
    path = audit_path(hashes, index)
    assert verify_inclusion(leaves[index], index, len(leaves), path, root)


@given(leaves_st, st.data())
def test_a_wrong_leaf_index_size_or_path_fails(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    root = root_from_hashes(hashes)
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    path = audit_path(hashes, index)
    assert not verify_inclusion(leaves[index] + b"x", index, n, path, root)
    assert not verify_inclusion(leaves[index], index, n, path, hashlib.sha256(root).digest())
    assert not verify_inclusion(leaves[index], n, n, path, root)
    if path:
        flipped = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert not verify_inclusion(leaves[index], index, n, flipped, root)
        assert not verify_inclusion(leaves[index], index, n, path[:-1], root)
    other = data.draw(st.integers(0, n - 1))
    if leaves[other] != leaves[index]:
        assert not verify_inclusion(leaves[other], index, n, path, root)


def test_audit_path_rejects_an_index_outside_the_tree() -> None:
    with pytest.raises(ValueError):
        audit_path([leaf_hash(b"a")], 1)
