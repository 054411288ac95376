"""Seal a UTC day's partitions into the `seals` chain (see archive.seal for the rules).

Cost per seal: one List Blobs call per 5,000 blobs of each sealed partition (each sealed
container's day folder, `media/small/<day>`, the day's disposal certificates; metadata
included, so the writers' sha256 comes with the listing and nothing is downloaded),
one listing of `seals/daily/`, a Get Blob for the chain head and for each earlier
seal of the same day, and one create-only Put Blob. A blob whose metadata has no
sha256 (written before writers recorded it) is hashed by streaming it: counted as
`hashed` in the outcome.

Two runs racing (the timer and `wa-archive seal`) race for the same next seq name;
create-only lets one win and the other starts over, so the chain never forks and a
blob never lands in two seals.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from azure.storage.blob import BlobServiceClient, ContainerClient

import telemetry
from archive.names import SEALS_CONTAINER
from archive.seal import (
    SEAL_PREFIX,
    Leaf,
    SealError,
    SealKind,
    StoredSeal,
    header_seal,
    new_seal,
    parse_seal_document,
    parse_seal_name,
    partition_prefixes,
    seal_metadata,
    unsealed,
)
from storage.blobs import JSON_CONTENT, create_only, read_blob
from storage.signing import Signer

log = logging.getLogger("wa_archive.sealing")
# Each lost race means another run appended a seal, so a run loses at most once per
# concurrent writer; 16 covers far more parallel sealing than the timer plus an admin.
_ATTEMPTS = 16
_HEX = frozenset("0123456789abcdef")
Progress = Callable[[int], None]


class SealingError(RuntimeError):
    """The chain cannot be extended (its head is unreadable, or runs keep racing)."""


@dataclass(frozen=True)
class SealOutcome:
    day: str
    kind: SealKind | None  # None: nothing new to seal
    seq: int | None
    name: str | None
    leaves: int
    root: str | None
    listed: int  # blobs in the day's partitions
    list_calls: int
    hashed: int  # blobs without a sha256 in their metadata, hashed by streaming

    def to_dict(self) -> dict[str, object]:
        return {"day": self.day, "kind": self.kind, "seq": self.seq, "name": self.name,
                "leaves": self.leaves, "root": self.root, "listed": self.listed,
                "list_calls": self.list_calls, "hashed": self.hashed}


def stream_sha256(container: ContainerClient, name: str) -> tuple[int, str]:
    """Size and sha256 of a blob, streamed in chunks (memory stays flat)."""
    digest, size = hashlib.sha256(), 0
    for chunk in container.download_blob(name).chunks():
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _claimed(metadata: dict[str, str] | None) -> str | None:
    value = (metadata or {}).get("sha256", "")
    return value if len(value) == 64 and set(value) <= _HEX else None


@dataclass
class Listing:
    leaves: list[Leaf]
    calls: int = 0
    hashed: int = 0


def list_partition(blobs: BlobServiceClient, day: date) -> Listing:
    """Every blob of the day's partition in each sealed container (and the day's
    disposal certificates in `seals`), as leaves."""
    listing = Listing([])
    for name, prefix in partition_prefixes(day):
        container = blobs.get_container_client(name)
        pages = container.list_blobs(name_starts_with=prefix, include=["metadata"]).by_page()
        for page in pages:
            listing.calls += 1
            for blob in page:
                sha = _claimed(blob.metadata)
                size = int(blob.size or 0)
                if sha is None:
                    size, sha = stream_sha256(container, blob.name)
                    listing.hashed += 1
                listing.leaves.append(Leaf(name, blob.name, size, sha))
    return listing


@dataclass(frozen=True)
class SealEntry:
    """One seal as the listing shows it (day and kind from metadata, if present)."""

    name: str
    seq: int
    day: str | None
    kind: str | None
    header: str | None = None  # base64 of the signed header
    signature: str | None = None


class SealChain:
    """Reads the `seals` chain: names from one listing, documents on demand."""

    def __init__(self, seals: ContainerClient) -> None:
        self.container = seals
        self.list_calls = 0

    def entries(self) -> list[SealEntry]:
        found: list[SealEntry] = []
        pages = self.container.list_blobs(name_starts_with=SEAL_PREFIX,
                                          include=["metadata"]).by_page()
        for page in pages:
            self.list_calls += 1
            for blob in page:
                seq = parse_seal_name(blob.name)
                meta = blob.metadata or {}
                found.append(SealEntry(blob.name, seq if seq is not None else -1,
                                       meta.get("day"), meta.get("kind"),
                                       meta.get("header"), meta.get("signature")))
        return sorted(found, key=lambda e: (e.seq, e.name))

    def read(self, name: str) -> StoredSeal:
        return parse_seal_document(read_blob(self.container, name))

    def header(self, entry: SealEntry) -> StoredSeal:
        """The seal's signed header: from the listing's metadata, else read (no leaves)."""
        if entry.header and entry.signature:
            return header_seal(entry.header, entry.signature)
        stored = self.read(entry.name)
        return replace(stored, seal=replace(stored.seal, leaves=()))

    def documents(self, entries: list[SealEntry]) -> Iterator[tuple[str, StoredSeal]]:
        for entry in entries:
            yield entry.name, self.read(entry.name)

    def of_day(self, entries: list[SealEntry], day: date) -> list[StoredSeal]:
        """Seals of `day`; a seal whose metadata lost its day is read to find out."""
        wanted: list[StoredSeal] = []
        for entry in entries:
            if entry.day is not None and entry.day != day.isoformat():
                continue
            try:
                stored = self.read(entry.name)
            except SealError:
                continue  # verification names it; it cannot vouch for any blob
            if stored.seal.day == day:
                wanted.append(stored)
        return wanted


def _head(chain: SealChain, entries: list[SealEntry]) -> tuple[int, str] | None:
    if not entries:
        return None
    last = entries[-1]
    try:
        stored = chain.read(last.name)
    except SealError as exc:
        raise SealingError(
            f"the chain head {last.name} is unreadable ({exc}); run `wa-archive verify`"
        ) from None
    return stored.seal.seq, stored.hash


def seal_day(
    blobs: BlobServiceClient, signer: Signer, day: date, *, now: datetime | None = None,
) -> SealOutcome:
    """Seal what is new in `day`'s partitions: a primary seal the first time (even when
    empty: the chain then shows the day had nothing), a supplementary one later.

    Metric wa_archive.seals: outcome `sealed` (a seal written), `unchanged` (nothing
    new), `failed` (raised; the activity retries, and each failed attempt counts)."""
    try:
        outcome = _seal_day(blobs, signer, day, now=now)
    except Exception:
        telemetry.seal("failed")
        raise
    telemetry.seal("sealed" if outcome.kind is not None else "unchanged")
    return outcome


def _seal_day(
    blobs: BlobServiceClient, signer: Signer, day: date, *, now: datetime | None = None,
) -> SealOutcome:
    chain = SealChain(blobs.get_container_client(SEALS_CONTAINER))
    for _ in range(_ATTEMPTS):
        entries = chain.entries()
        same_day = chain.of_day(entries, day)
        sealed = {leaf.key for stored in same_day for leaf in stored.seal.leaves}
        listing = list_partition(blobs, day)
        fresh = unsealed(listing.leaves, sealed)
        calls = listing.calls + chain.list_calls
        if same_day and not fresh:
            return SealOutcome(day.isoformat(), None, None, None, 0, None,
                               len(listing.leaves), calls, listing.hashed)
        kind: SealKind = "supplementary" if same_day else "primary"
        at = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
        seal = new_seal(_head(chain, entries), day, kind, fresh,
                        key_id=signer.key_id, sealed_at=at)
        signature = signer.sign(seal.signing_bytes())
        document = seal.document(signature)
        if create_only(chain.container, seal.blob_name, document, JSON_CONTENT,
                       metadata=seal_metadata(seal, document, signature)):
            log.info("sealed day=%s kind=%s seq=%d leaves=%d root=%s",
                     day, kind, seal.seq, len(seal.leaves), seal.root)
            return SealOutcome(day.isoformat(), kind, seal.seq, seal.blob_name,
                               len(seal.leaves), seal.root, len(listing.leaves), calls,
                               listing.hashed)
        log.info("seal seq=%d taken by a parallel run; starting over", seal.seq)
    raise SealingError(f"could not append a seal for {day} after {_ATTEMPTS} attempts")
