"""Daily seals: signed, hash-chained Merkle manifests of what each day's partitions hold.

A seal covers blobs of one UTC day's partitions (`year=/month=/day=`) in the sealed
containers (in `media` also `small/year=/month=/day=`, where small media sit). Each
leaf is one blob: container, name, size, sha256 (what its metadata claims at creation;
verification recomputes it). Leaves sit in canonical order, sorted
by (container, name) as UTF-8 bytes, and the seal holds the RFC 6962 tree root over
their canonical JSON bytes.

The chain: one for the whole archive. Seal `seq` n > 1 names the sha256 of seal n-1's
signed bytes in `previous`; seal 1 names GENESIS. Each day has exactly one `primary`
seal; blobs that land in an already-sealed partition later go into `supplementary`
seals for that day, later in the chain. No blob is in two seals.

The stored document is `{"seal": <body>, "signature": <hex r||s>, "leaves": [...]}`.
The signature (ES256) covers `canonical_json(body)`, the same bytes whose sha256 the
next seal chains. The body holds the root, not the leaves: the root commits to them,
so an inclusion proof carries the small body and an audit path, never the whole list.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from itertools import pairwise
from typing import Any, Literal

from archive.canonical import canonical_json, sha256_hex
from archive.layout import SMALL_MEDIA_PREFIX
from archive.merkle import leaf_hash, root_from_hashes
from archive.names import (
    AUDIT_CONTAINER,
    DEADLETTER_CONTAINER,
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SEALS_CONTAINER,
)

SEAL_SCHEMA = "wa-archive/seal@1"
SIGNATURE_ALGORITHM = "ES256"
SEALED_CONTAINERS = (
    RAW_CONTAINER, RECORDS_CONTAINER, MEDIA_CONTAINER, AUDIT_CONTAINER, DEADLETTER_CONTAINER,
)
GENESIS = "0" * 64
SEAL_PREFIX = "daily/"
# Disposal certificates (archive.retention) sit in `seals` under
# `disposals/year=YYYY/month=MM/day=DD/`: that partition is sealed with the day like the
# others. A separate constant, not a sixth SEALED_CONTAINERS entry, so `counts` of seals
# made before certificates existed stay exactly as they were signed.
DISPOSAL_PREFIX = "disposals/"
# Late statuses, replays and refetched media land in recent partitions: this many
# days back are re-scanned for blobs that are not sealed yet.
RESCAN_DAYS = 7
SealKind = Literal["primary", "supplementary"]
KINDS: tuple[SealKind, ...] = ("primary", "supplementary")
_HEX = frozenset("0123456789abcdef")


Verifier = Callable[[bytes, bytes], bool]  # (signed bytes, signature) -> valid?


class SealError(ValueError):
    """A seal document that does not have the shape of a seal."""


def day_prefix(day: date) -> str:
    return f"year={day:%Y}/month={day:%m}/day={day:%d}/"


def partition_prefixes(day: date) -> list[tuple[str, str]]:
    """(container, name prefix) of every partition a day's seal covers: the day's
    folder in each sealed container, small media under `media/small/` (archive.layout),
    and the day's disposal certificates in `seals`."""
    prefix = day_prefix(day)
    return [(name, prefix) for name in SEALED_CONTAINERS] + [
        (MEDIA_CONTAINER, SMALL_MEDIA_PREFIX + prefix),
        (SEALS_CONTAINER, DISPOSAL_PREFIX + prefix)]


def in_day(container: str, name: str, day: date) -> bool:
    """Does this blob belong to one of `day`'s sealed partitions?"""
    return any(container == c and name.startswith(p) for c, p in partition_prefixes(day))


def _hex64(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise SealError(f"{what} is not a lowercase hex sha256")
    return value


@dataclass(frozen=True)
class Leaf:
    container: str
    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"container": self.container, "name": self.name, "size": self.size,
                "sha256": self.sha256}

    def to_bytes(self) -> bytes:
        """What the Merkle tree hashes: the canonical JSON of the four fields."""
        return canonical_json(self.to_dict())

    @property
    def key(self) -> tuple[str, str]:
        return (self.container, self.name)

    @classmethod
    def from_dict(cls, doc: Any) -> Leaf:
        if not isinstance(doc, dict) or set(doc) != {"container", "name", "size", "sha256"}:
            raise SealError("a leaf must have exactly container, name, size, sha256")
        size = doc["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise SealError("a leaf's size must be a non-negative integer")
        if not isinstance(doc["container"], str) or not isinstance(doc["name"], str):
            raise SealError("a leaf's container and name must be strings")
        return cls(doc["container"], doc["name"], size, _hex64(doc["sha256"], "leaf sha256"))


def _order(leaf: Leaf) -> tuple[bytes, bytes]:
    return (leaf.container.encode("utf-8"), leaf.name.encode("utf-8"))


def canonical_leaves(leaves: Iterable[Leaf]) -> list[Leaf]:
    """Leaves in canonical order; a blob listed twice is a caller's bug."""
    ordered = sorted(leaves, key=_order)
    for before, after in pairwise(ordered):
        if before.key == after.key:
            raise SealError("the same blob appears twice among a seal's leaves")
    return ordered


def merkle_root(leaves: Sequence[Leaf]) -> str:
    return root_from_hashes([leaf_hash(leaf.to_bytes()) for leaf in leaves]).hex()


def counts_of(leaves: Iterable[Leaf]) -> dict[str, int]:
    counts = dict.fromkeys(SEALED_CONTAINERS, 0)
    for leaf in leaves:
        counts[leaf.container] = counts.get(leaf.container, 0) + 1
    return counts


@dataclass(frozen=True)
class Seal:
    seq: int
    day: date
    kind: SealKind
    leaves: tuple[Leaf, ...]  # canonical order
    previous: str
    key_id: str
    sealed_at: str  # ISO-8601 UTC, passed in (the core reads no clock)

    @cached_property
    def root(self) -> str:
        # Computed once: body(), the document, the log line and the outcome all need it.
        return merkle_root(self.leaves)

    def body(self) -> dict[str, Any]:
        return {
            "schema": SEAL_SCHEMA,
            "seq": self.seq,
            "day": self.day.isoformat(),
            "kind": self.kind,
            "sealed_at": self.sealed_at,
            "previous": self.previous,
            "key_id": self.key_id,
            "algorithm": SIGNATURE_ALGORITHM,
            "counts": counts_of(self.leaves),
            "tree_size": len(self.leaves),
            "root": self.root,
        }

    def signing_bytes(self) -> bytes:
        return canonical_json(self.body())

    @property
    def hash(self) -> str:
        """What the next seal names as `previous`."""
        return sha256_hex(self.signing_bytes())

    @property
    def blob_name(self) -> str:
        return seal_blob_name(self.seq)

    def document(self, signature: bytes) -> bytes:
        return canonical_json({"seal": self.body(), "signature": signature.hex(),
                               "leaves": [leaf.to_dict() for leaf in self.leaves]})


def new_seal(
    head: tuple[int, str] | None, day: date, kind: SealKind, leaves: Iterable[Leaf], *,
    key_id: str, sealed_at: str,
) -> Seal:
    """The seal after the chain's `head` (its seq and hash; None: the first seal)."""
    return Seal(
        seq=head[0] + 1 if head else 1,
        day=day,
        kind=kind,
        leaves=tuple(canonical_leaves(leaves)),
        previous=head[1] if head else GENESIS,
        key_id=key_id,
        sealed_at=sealed_at,
    )


def seal_blob_name(seq: int) -> str:
    """`daily/<seq, 10 digits>.json`: listing order is chain order, and two sealing runs
    that race for the same seq race for the same name, so create-only lets one win.
    The day and kind are in the document and, for cheap listing, in the blob metadata."""
    return f"{SEAL_PREFIX}{seq:010d}.json"


def parse_seal_name(name: str) -> int | None:
    if not name.startswith(SEAL_PREFIX) or not name.endswith(".json"):
        return None
    stem = name[len(SEAL_PREFIX):-len(".json")]
    return int(stem) if len(stem) == 10 and stem.isdigit() else None


def seal_metadata(seal: Seal, document: bytes, signature: bytes) -> dict[str, str]:
    """Blob metadata: the signed header (base64) and signature ride along, so the whole
    chain can be checked from one listing, without downloading every seal's leaves."""
    return {"sha256": sha256_hex(document), "day": seal.day.isoformat(), "kind": seal.kind,
            "seq": str(seal.seq),
            "header": base64.b64encode(seal.signing_bytes()).decode("ascii"),
            "signature": signature.hex()}


def header_seal(header: str, signature: str) -> StoredSeal:
    """A seal's header (no leaves) from its metadata; SealError when malformed."""
    try:
        body = json.loads(base64.b64decode(header, validate=True))
    except (ValueError, binascii.Error):
        raise SealError("the seal's header metadata is malformed") from None
    return parse_seal_document(canonical_json({"seal": body, "signature": signature,
                                               "leaves": []}))


@dataclass(frozen=True)
class StoredSeal:
    """A seal read back from storage, with its signature."""

    seal: Seal
    signature: bytes
    signed_bytes: bytes  # canonical bytes of the body as stored: what was signed
    declared_root: str
    declared_counts: dict[str, int]
    declared_size: int

    @property
    def hash(self) -> str:
        return sha256_hex(self.signed_bytes)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SealError(f"{what} must be an integer")
    return value


def parse_seal_document(data: bytes) -> StoredSeal:
    """Parse a stored seal; raises SealError when it is not a well-formed seal."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise SealError("the seal is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("seal"), dict):
        raise SealError("the seal document has no 'seal' object")
    body = doc["seal"]
    if body.get("schema") != SEAL_SCHEMA or body.get("algorithm") != SIGNATURE_ALGORITHM:
        raise SealError("unknown seal schema or algorithm")
    kind = body.get("kind")
    if kind not in KINDS:
        raise SealError("the seal's kind is neither primary nor supplementary")
    try:
        day = date.fromisoformat(str(body.get("day")))
        signature = bytes.fromhex(str(doc.get("signature", "")))
    except ValueError:
        raise SealError("the seal's day or signature is malformed") from None
    leaves = doc.get("leaves")
    if not isinstance(leaves, list):
        raise SealError("the seal has no leaf list")
    counts = body.get("counts")
    if not isinstance(counts, dict):
        raise SealError("the seal has no counts")
    seal = Seal(
        seq=_int(body.get("seq"), "seq"),
        day=day,
        kind="primary" if kind == "primary" else "supplementary",
        leaves=tuple(Leaf.from_dict(leaf) for leaf in leaves),
        previous=_hex64(body.get("previous"), "previous"),
        key_id=str(body.get("key_id", "")),
        sealed_at=str(body.get("sealed_at", "")),
    )
    return StoredSeal(
        seal=seal,
        signature=signature,
        signed_bytes=canonical_json(body),
        declared_root=_hex64(body.get("root"), "root"),
        declared_counts={str(k): _int(v, "count") for k, v in counts.items()},
        declared_size=_int(body.get("tree_size"), "tree_size"),
    )


def unsealed(listed: Iterable[Leaf], sealed: set[tuple[str, str]]) -> list[Leaf]:
    """What a supplementary seal must add: listed blobs no seal holds yet."""
    return [leaf for leaf in listed if leaf.key not in sealed]
