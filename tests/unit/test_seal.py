"""Seals, the chain rules and offline proofs: pure code plus an in-memory P-256 key."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from archive.canonical import canonical_json
from archive.proof import build_proof, verify_proof
from archive.seal import (
    GENESIS,
    Leaf,
    Seal,
    SealError,
    StoredSeal,
    canonical_leaves,
    new_seal,
    parse_seal_document,
    parse_seal_name,
    unsealed,
)
from archive.seal_check import check_chain, check_seal
from storage.signing import (
    LocalSigner,
    load_public_pem,
    public_jwk,
    public_key_from_jwk,
    public_pem,
    verify_es256,
)

pytestmark = pytest.mark.unit
SIGNER = LocalSigner(ec.generate_private_key(ec.SECP256R1()), "file:test.pem")
OTHER = LocalSigner(ec.generate_private_key(ec.SECP256R1()), "file:test.pem")
AT = "2026-11-28T01:30:00+00:00"


def verify(data: bytes, signature: bytes) -> bool:
    return verify_es256(SIGNER.public_key(), data, signature)


def leaf(container: str, name: str, body: bytes = b"x") -> Leaf:
    return Leaf(container, name, len(body), hashlib.sha256(body).hexdigest())


def stored(seal: Seal, signer: LocalSigner = SIGNER) -> tuple[str, StoredSeal]:
    return seal.blob_name, parse_seal_document(seal.document(signer.sign(seal.signing_bytes())))


def chain(*days: tuple[date, str, list[Leaf]]) -> list[tuple[str, StoredSeal]]:
    seals: list[tuple[str, StoredSeal]] = []
    head: tuple[int, str] | None = None
    for day, kind, leaves in days:
        seal = new_seal(head, day, kind, leaves,  # type: ignore[arg-type]
                        key_id=SIGNER.key_id, sealed_at=AT)
        seals.append(stored(seal))
        head = (seal.seq, seals[-1][1].hash)
    return seals


D1, D2, D3 = date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)
LEAVES = [leaf("records", "year=2026/month=11/day=25/b.json"),
          leaf("raw", "year=2026/month=11/day=25/a.json", b"body"),
          leaf("media", "year=2026/month=11/day=25/c.jpg", b"jpeg")]


def kinds(found: list) -> set[str]:  # type: ignore[type-arg]
    return {f.kind for f in found}


def test_leaves_sort_canonically_and_refuse_duplicates() -> None:
    ordered = canonical_leaves(LEAVES)
    assert [x.container for x in ordered] == ["media", "raw", "records"]
    with pytest.raises(SealError):
        canonical_leaves([*LEAVES, LEAVES[0]])


def test_a_signed_seal_round_trips_and_checks_clean() -> None:
    seal = new_seal(None, D1, "primary", LEAVES, key_id="k", sealed_at=AT)
    assert seal.seq == 1 and seal.previous == GENESIS
    name, doc = stored(seal)
    assert name == "daily/0000000001.json" and parse_seal_name(name) == 1
    assert doc.hash == seal.hash and doc.declared_root == seal.root
    assert doc.declared_counts["raw"] == 1 and doc.declared_counts["audit"] == 0
    assert check_seal(name, doc, verify) == []


def test_an_edited_or_foreign_seal_is_named() -> None:
    seal = new_seal(None, D1, "primary", LEAVES, key_id="k", sealed_at=AT)
    data = json.loads(seal.document(SIGNER.sign(seal.signing_bytes())))
    data["leaves"][0]["size"] = 99
    edited = parse_seal_document(canonical_json(data))
    assert kinds(check_seal(seal.blob_name, edited, verify)) == {"root_mismatch"}
    data["seal"]["root"] = edited.seal.root
    re_rooted = parse_seal_document(canonical_json(data))
    assert "signature_invalid" in kinds(check_seal(seal.blob_name, re_rooted, verify))
    _, foreign = stored(seal, OTHER)
    assert kinds(check_seal(seal.blob_name, foreign, verify)) == {"signature_invalid"}
    assert kinds(check_seal("daily/0000000002.json", stored(seal)[1],
                            verify)) == {"seal_name_mismatch"}


def test_a_clean_chain_has_no_findings() -> None:
    seals = chain((D1, "primary", LEAVES), (D2, "primary", []),
                  (D1, "supplementary", [leaf("records", "late.json")]),
                  (D3, "primary", [leaf("audit", "a.json")]))
    assert check_chain(seals) == []


def test_a_removed_seal_breaks_the_chain_and_leaves_a_day_gap() -> None:
    seals = chain((D1, "primary", LEAVES), (D2, "primary", []), (D3, "primary", []))
    found = check_chain([seals[0], seals[2]])
    assert kinds(found) == {"seq_gap", "chain_broken", "day_gap"}
    assert {f.subject for f in found} >= {seals[2][0], D1.isoformat()}


def test_chain_rules_catch_double_primaries_orphans_and_resealed_blobs() -> None:
    seals = chain((D1, "supplementary", LEAVES[:1]), (D1, "primary", LEAVES),
                  (D1, "primary", []))
    found = check_chain(seals)
    assert kinds(found) == {"supplementary_without_primary", "duplicate_primary",
                            "sealed_twice"}
    twice = [f for f in found if f.kind == "sealed_twice"]
    assert twice[0].subject == f"records/{LEAVES[0].name}"


def test_unsealed_keeps_only_new_blobs() -> None:
    sealed = {x.key for x in LEAVES[:2]}
    assert unsealed(LEAVES, sealed) == [LEAVES[2]]


def test_malformed_documents_raise_seal_error() -> None:
    for data in (b"not json", b"{}", b'{"seal": {"schema": "x"}}'):
        with pytest.raises(SealError):
            parse_seal_document(data)


def test_a_proof_verifies_offline_and_fails_on_any_change() -> None:
    many = [leaf("records", f"r{i:03d}.json", bytes([i])) for i in range(13)]
    name, doc = chain((D1, "primary", many))[0]
    proof = build_proof(doc, name, "records", "r007.json")
    assert verify_proof(proof, verify, bytes([7])).ok
    assert verify_proof(json.loads(json.dumps(proof)), verify).ok
    assert "sealed ones" in verify_proof(proof, verify, bytes([8])).problems[0]
    bad_key = verify_proof(proof, lambda d, s: verify_es256(OTHER.public_key(), d, s))
    assert "signature" in bad_key.problems[0]
    moved = {**proof, "leaf_index": 6}
    assert any("Merkle root" in p for p in verify_proof(moved, verify).problems)
    with pytest.raises(KeyError):
        build_proof(doc, name, "records", "absent.json")


def test_public_key_exports_round_trip() -> None:
    public = SIGNER.public_key()
    assert load_public_pem(public_pem(public)).public_numbers() == public.public_numbers()
    jwk = public_jwk(public, "k")
    assert jwk["kty"] == "EC" and jwk["kid"] == "k"
    assert public_key_from_jwk(jwk).public_numbers() == public.public_numbers()
    signature = SIGNER.sign(b"data")
    assert len(signature) == 64 and verify_es256(public, b"data", signature)
    assert not verify_es256(public, b"datA", signature)


def test_a_leaf_outside_the_seals_day_is_named() -> None:
    stray = leaf("records", "year=2026/month=11/day=26/x.json")
    seal = new_seal(None, D1, "primary", [*LEAVES, stray], key_id="k", sealed_at=AT)
    name, doc = stored(seal)
    found = check_seal(name, doc, verify)
    assert [(f.kind, f.subject) for f in found] == [("leaf_outside_day", name)]


def test_a_pem_bundle_of_rotated_key_versions_verifies_seals_of_each() -> None:
    from storage.signing import load_public_pems, verify_any

    bundle = public_pem(SIGNER.public_key()) + public_pem(OTHER.public_key())
    keys = load_public_pems(bundle)
    assert len(keys) == 2
    for signer in (SIGNER, OTHER):
        assert verify_any(keys, b"seal", signer.sign(b"seal"))
    assert not verify_any(keys[:1], b"seal", OTHER.sign(b"seal"))
    with pytest.raises(ValueError):
        load_public_pems(b"no key here")
