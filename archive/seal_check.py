"""Checks of seals and of the chain they form (the rules are in archive.seal).

Pure: the caller reads the seals and passes a signature verifier callback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from typing import Literal

from archive.seal import (
    GENESIS,
    SealError,
    StoredSeal,
    Verifier,
    canonical_leaves,
    counts_of,
    in_day,
    parse_seal_name,
)


@dataclass(frozen=True)
class Finding:
    """One named verification failure: `subject` is a blob (`container/name`),
    a seal name, or a day."""

    check: Literal["integrity", "completeness", "seals"]
    kind: str
    subject: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "kind": self.kind, "subject": self.subject,
                "detail": self.detail}


def _seal_finding(kind: str, subject: str, detail: str) -> Finding:
    return Finding("seals", kind, subject, detail)


def check_seal(name: str, stored: StoredSeal, verify: Verifier) -> list[Finding]:
    """One seal on its own: name, leaf order, root, counts, signature."""
    seal = stored.seal
    found: list[Finding] = []
    if parse_seal_name(name) != seal.seq:
        found.append(_seal_finding("seal_name_mismatch", name,
                                   "the blob name disagrees with the seal's seq"))
    try:
        ordered = canonical_leaves(seal.leaves)
    except SealError as exc:
        ordered = []
        found.append(_seal_finding("leaves_not_canonical", name, str(exc)))
    if ordered and list(seal.leaves) != ordered:
        found.append(_seal_finding("leaves_not_canonical", name,
                                   "the leaves are not in canonical order"))
    if seal.root != stored.declared_root or stored.declared_size != len(seal.leaves):
        found.append(_seal_finding("root_mismatch", name,
                                   "the Merkle root does not recompute from the leaves"))
    if stored.declared_counts != counts_of(seal.leaves):
        found.append(_seal_finding("counts_mismatch", name,
                                   "the counts per container do not match the leaves"))
    if not verify(stored.signed_bytes, stored.signature):
        found.append(_seal_finding("signature_invalid", name,
                                   "the signature does not verify with the public key"))
    outside = sum(1 for leaf in seal.leaves if not in_day(leaf.container, leaf.name, seal.day))
    if outside:
        # Keeps "a blob in two seals" a question of one day's seals only.
        found.append(_seal_finding("leaf_outside_day", name,
                                   f"{outside} leaf/leaves outside the {seal.day} partitions"))
    return found


def without_leaves(stored: StoredSeal) -> StoredSeal:
    """The seal's header facts only (for chain checks that must not hold every leaf)."""
    return replace(stored, seal=replace(stored.seal, leaves=()))


def sealed_twice(seals: Sequence[tuple[str, StoredSeal]]) -> list[Finding]:
    """Blobs held by more than one of these seals (a day's seals)."""
    found: list[Finding] = []
    holder: dict[tuple[str, str], str] = {}
    for name, stored in seals:
        for leaf in stored.seal.leaves:
            first = holder.setdefault(leaf.key, name)
            if first != name:
                found.append(Finding("seals", "sealed_twice", f"{leaf.container}/{leaf.name}",
                                     f"in {first} and {name}"))
    return found


def check_chain(seals: Sequence[tuple[str, StoredSeal]]) -> list[Finding]:
    """Chain rules over every seal, in seq order: contiguous seq, previous hashes,
    one primary per day before its supplementaries, no day gaps, no blob twice."""
    found: list[Finding] = []
    ordered = sorted(seals, key=lambda item: item[1].seal.seq)
    expected_seq, previous_hash = 1, GENESIS
    primaries: dict[date, str] = {}
    for name, stored in ordered:
        seal = stored.seal
        if seal.seq != expected_seq:
            missing = (f"seal {expected_seq}" if seal.seq == expected_seq + 1
                       else f"seals {expected_seq}..{seal.seq - 1}")
            if seal.seq < expected_seq:
                found.append(_seal_finding("seq_duplicate", name,
                                           f"seq {seal.seq} is used by another seal"))
            else:
                found.append(_seal_finding("seq_gap", name, f"{missing} missing before it"))
        if seal.previous != previous_hash:
            found.append(_seal_finding(
                "chain_broken", name,
                "'previous' is not the hash of the seal before it in the chain"))
        expected_seq, previous_hash = max(expected_seq, seal.seq + 1), stored.hash
        if seal.kind == "primary":
            if seal.day in primaries:
                found.append(_seal_finding("duplicate_primary", name,
                                           f"{seal.day} already has {primaries[seal.day]}"))
            primaries.setdefault(seal.day, name)
        elif seal.day not in primaries:
            found.append(_seal_finding("supplementary_without_primary", name,
                                       f"no earlier primary seal for {seal.day}"))
    found.extend(sealed_twice(ordered))
    found.extend(_day_gaps(sorted(primaries)))
    return found


def _day_gaps(days: list[date]) -> list[Finding]:
    found: list[Finding] = []
    for before, after in pairwise(days):
        gap = (after - before).days - 1
        if gap > 0:
            found.append(_seal_finding(
                "day_gap", before.isoformat(),
                f"{gap} day(s) after {before} have no primary seal (next: {after})"))
    return found
