"""Verify the archive against its seals: integrity, completeness, and the chain.

Used by `wa-archive verify` and by the daily verification timer.

- seals: every seal parses, its Merkle root and counts recompute, its signature
  verifies with the public key; the chain has contiguous seqs, each `previous` is the
  hash of the seal before, one primary per day, no day gaps, no blob in two seals.
- integrity: every sealed blob (of the days asked for; with `sample`, N random ones
  per day) exists, and streaming it gives the sealed size and sha256.
- completeness: every blob in a sealed day's partitions is in a seal; every checked
  record's raw body and stored media exist with its sha256s; every IndexByDay row of
  a sealed day points at an existing record (storage.references).
- disposal: a sealed blob that is gone counts as disposed, not missing, when a
  disposal certificate in `seals/disposals/` lists the same container, name and
  sha256 (storage.disposal.Disposals); anything else gone stays a failure.

Cost (`wa-archive verify`): one listing of `seals`, one Get Blob per seal for the
chain, another per seal of each day checked (only headers are kept in between, so
memory holds one day's leaves at most), one streamed download per checked blob (4 MiB
chunks), one listing per sealed container per sealed day, one IndexByDay query per
day. The daily run (storage.verification_run) checks the chain from the listing's
metadata alone. Findings name the blob, seal or day.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

import telemetry
from archive.names import RECORDS_CONTAINER, SEALS_CONTAINER
from archive.seal import Leaf, SealError, StoredSeal, Verifier, partition_prefixes
from archive.seal_check import Finding, check_chain, check_seal, sealed_twice, without_leaves
from storage.disposal import Disposals
from storage.references import MAX_RECORD_BYTES, References
from storage.sealing import SealChain, SealEntry

Progress = Callable[[int], None]


@dataclass
class VerifyReport:
    seals: int = 0
    days: list[str] = field(default_factory=list)
    blobs_checked: int = 0
    bytes_checked: int = 0
    partitions_listed: int = 0
    disposed: int = 0  # sealed blobs gone under a disposal certificate (not failures)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        counts = {"integrity": 0, "completeness": 0, "seals": 0}
        for finding in self.findings:
            counts[finding.check] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "seals": self.seals, "days": self.days,
                "blobs_checked": self.blobs_checked, "bytes_checked": self.bytes_checked,
                "partitions_listed": self.partitions_listed, "disposed": self.disposed,
                "failures": self.counts(),
                "findings": [f.to_dict() for f in self.findings]}


def _in_range(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def check_seals(chain: SealChain, verify: Verifier, report: VerifyReport
                ) -> dict[date, list[str]]:
    """Read and check every seal, then the chain; returns the seal names per day.

    Only each seal's header is kept for the chain rules, so memory does not grow
    with the archive; a day's leaves are read again when that day is checked.
    """
    headers: list[tuple[str, StoredSeal]] = []
    by_day: dict[date, list[str]] = {}
    for entry in chain.entries():
        if entry.seq < 0:
            report.findings.append(Finding("seals", "not_a_seal", entry.name,
                                           "a blob under daily/ that is not named as a seal"))
            continue
        try:
            stored = chain.read(entry.name)
        except SealError as exc:
            report.findings.append(Finding("seals", "seal_unreadable", entry.name, str(exc)))
            continue
        report.findings.extend(check_seal(entry.name, stored, verify))
        headers.append((entry.name, without_leaves(stored)))
        by_day.setdefault(stored.seal.day, []).append(entry.name)
    report.seals = len(headers)
    report.findings.extend(check_chain(headers))
    return by_day


def check_headers(chain: SealChain, verify: Verifier, report: VerifyReport
                  ) -> list[SealEntry]:
    """The chain rules and every signature from one listing of the seals' metadata (the
    signed headers ride in it), without downloading any seal's leaves."""
    headers: list[tuple[str, StoredSeal]] = []
    entries = [e for e in chain.entries() if e.seq >= 0 or _not_a_seal(e, report)]
    for entry in entries:
        try:
            stored = chain.header(entry)
        except SealError as exc:
            report.findings.append(Finding("seals", "seal_unreadable", entry.name, str(exc)))
            continue
        if stored.seal.seq != entry.seq:
            report.findings.append(Finding("seals", "seal_name_mismatch", entry.name,
                                           "the blob name disagrees with the seal's seq"))
        if not verify(stored.signed_bytes, stored.signature):
            report.findings.append(Finding(
                "seals", "signature_invalid", entry.name,
                "the signature does not verify with the public key"))
        headers.append((entry.name, stored))
    report.seals = len(headers)
    report.findings.extend(check_chain(headers))
    return entries


def _not_a_seal(entry: SealEntry, report: VerifyReport) -> bool:
    report.findings.append(Finding("seals", "not_a_seal", entry.name,
                                   "a blob under daily/ that is not named as a seal"))
    return False


def day_leaves(chain: SealChain, names: list[str], report: VerifyReport,
               verify: Verifier | None = None, entries: list[SealEntry] | None = None
               ) -> list[Leaf]:
    """The leaves of one day's seals; a blob in two of them is a finding. With `verify`,
    each seal is also checked in full (root, counts, signature), and against the header
    its listing metadata carries."""
    listed = {e.name: e for e in entries or []}
    seals: list[tuple[str, StoredSeal]] = []
    for name in names:
        try:
            stored = chain.read(name)
        except SealError as exc:
            if verify is not None:
                report.findings.append(Finding("seals", "seal_unreadable", name, str(exc)))
            continue
        seals.append((name, stored))
        if verify is None:
            continue
        report.findings.extend(check_seal(name, stored, verify))
        entry = listed.get(name)
        if entry is not None and entry.header and entry.signature and (
                chain.header(entry).signed_bytes != stored.signed_bytes
                or entry.signature != stored.signature.hex()):
            report.findings.append(Finding("seals", "seal_metadata_mismatch", name,
                                           "the header in its metadata is not the seal's"))
    report.findings.extend(sealed_twice(seals))
    return [leaf for _, stored in seals for leaf in stored.seal.leaves]


def check_blob(blobs: BlobServiceClient, leaf: Leaf, keep: bool = False
               ) -> tuple[Finding | None, int, bytes | None]:
    """Stream one sealed blob; a finding when it is missing or differs. Returns bytes
    read and, with `keep`, the bytes themselves (a small record, for its references)."""
    subject = f"{leaf.container}/{leaf.name}"
    digest, size = hashlib.sha256(), 0
    kept: list[bytes] | None = [] if keep and leaf.size <= MAX_RECORD_BYTES else None
    try:
        for chunk in blobs.get_container_client(leaf.container).download_blob(
                leaf.name).chunks():
            digest.update(chunk)
            size += len(chunk)
            if kept is not None and size <= MAX_RECORD_BYTES:
                kept.append(chunk)
    except ResourceNotFoundError:
        return Finding("integrity", "missing", subject, "a sealed blob no longer exists"), 0, None
    if size != leaf.size:
        return Finding("integrity", "size_mismatch", subject,
                       f"{size} bytes, sealed with {leaf.size}"), size, None
    if digest.hexdigest() != leaf.sha256:
        return Finding("integrity", "sha256_mismatch", subject,
                       "its bytes no longer hash to the sealed sha256"), size, None
    return None, size, b"".join(kept) if kept is not None else None


def check_completeness(blobs: BlobServiceClient, day: date, sealed: set[tuple[str, str]],
                       report: VerifyReport) -> None:
    for name, prefix in partition_prefixes(day):
        report.partitions_listed += 1
        for blob in blobs.get_container_client(name).list_blobs(name_starts_with=prefix):
            if (name, blob.name) not in sealed:
                report.findings.append(Finding(
                    "completeness", "unsealed", f"{name}/{blob.name}",
                    f"in the sealed partition of {day} but in no seal"))


def check_leaves(blobs: BlobServiceClient, leaves: list[Leaf], report: VerifyReport,
                 progress: Progress | None = None, refs: References | None = None,
                 disposals: Disposals | None = None) -> None:
    disposals = disposals or Disposals(blobs)  # reads nothing until a blob is missing
    for leaf in leaves:
        is_record = refs is not None and leaf.container == RECORDS_CONTAINER
        finding, size, data = check_blob(blobs, leaf, keep=is_record)
        report.blobs_checked += 1
        report.bytes_checked += size
        if finding and finding.kind == "missing" and disposals.covers(
                leaf.container, leaf.name, leaf.sha256):
            report.disposed += 1
        elif finding:
            report.findings.append(finding)
        if refs is not None and data is not None:
            report.findings.extend(refs.check_record(leaf.name, data))
        if progress:
            progress(report.blobs_checked)


def verify_day(blobs: BlobServiceClient, day: date, leaves: list[Leaf], report: VerifyReport,
               *, sample: int | None = None, rng: random.Random | None = None,
               progress: Progress | None = None, tables: TableServiceClient | None = None,
               disposals: Disposals | None = None) -> None:
    """Integrity of the day's sealed blobs (all, or `sample` random ones), then completeness:
    the partitions hold nothing unsealed, and what records and index rows point at exists."""
    chosen = leaves
    if sample is not None and len(leaves) > sample:
        chosen = (rng or random.Random()).sample(leaves, sample)
    refs = References(blobs, tables)
    refs.learn(chosen)  # their existence and sha256 are checked right here
    check_leaves(blobs, chosen, report, progress, refs, disposals)
    check_completeness(blobs, day, {leaf.key for leaf in leaves}, report)
    report.findings.extend(refs.check_index_day(day.isoformat()))
    report.days.append(day.isoformat())


def verify_archive(
    blobs: BlobServiceClient,
    verify: Verifier,
    *,
    start: date | None = None,
    end: date | None = None,
    sample: int | None = None,
    rng: random.Random | None = None,
    progress: Progress | None = None,
    tables: TableServiceClient | None = None,
) -> VerifyReport:
    """The whole check, as `wa-archive verify` runs it."""
    report = VerifyReport()
    chain = SealChain(blobs.get_container_client(SEALS_CONTAINER))
    by_day = check_seals(chain, verify, report)
    disposals = Disposals(blobs)  # one for the run: certificates are read once
    for day in sorted(by_day):
        if _in_range(day, start, end):
            verify_day(blobs, day, day_leaves(chain, by_day[day], report), report,
                       sample=sample, rng=rng, progress=progress, tables=tables,
                       disposals=disposals)
    telemetry.verification("passed" if report.ok else "failed")
    return report
