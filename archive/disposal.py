"""Disposal certificates: what a retention run deleted, under which policy (pure).

A certificate is written create-only into `seals` at
`disposals/year=YYYY/month=MM/day=DD/<run id>.json` (the day it was completed), so
the day's seal covers it like any other blob. It names the policy and cut-off day,
every deleted blob version (container, name, version id, size, sha256 and the seal
that held it), the counts, what was held back and by which matters, what was skipped
and why, and when the run was planned and completed.

`wa-archive verify` reads certificates to tell a disposed blob from a missing one:
a sealed blob that is gone counts as disposed only when a certificate lists the same
container, name and sha256.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from archive.names import RECORDS_CONTAINER
from archive.retention import POLICY_RULE, Plan, PlannedBlob
from archive.timestamps import iso_utc

CERTIFICATE_SCHEMA = "wa-archive/disposal@1"
DISPOSED = frozenset({"deleted", "gone"})
KEPT_ROWS_NOTE = ("index rows of disposed records were deleted; failures rows are kept "
                  "(they are diagnostics, not records)")
VersionKey = tuple[str, str, str | None]


class CertificateError(ValueError):
    """A certificate document that does not have the shape of a certificate."""


@dataclass
class Execution:
    """What carrying out a plan did: an outcome per version, and why blobs stayed."""

    outcomes: dict[VersionKey, str] = field(default_factory=dict)
    held: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    index_rows: int = 0
    latest_status_rows: int = 0

    def disposed(self, blob: PlannedBlob) -> bool:
        """Every version deleted now or earlier by this plan (a crashed attempt)."""
        return all(self.outcomes.get((blob.container, blob.name, v.version_id)) in DISPOSED
                   for v in blob.versions)

    def hold(self, blob: PlannedBlob, matters: list[str]) -> None:
        for matter in matters:
            self.held.setdefault(matter, []).append(blob.key)

    def skip(self, blob: PlannedBlob, reason: str) -> None:
        self.skipped.append({"container": blob.container, "name": blob.name,
                             "reason": reason})


def waits_for_kept(blob: PlannedBlob, disposed_records: set[str]) -> bool:
    """A media blob or raw body whose records did not all go must stay."""
    return any(name not in disposed_records for name in blob.after)


def _held(*sources: Mapping[str, list[tuple[str, str]]]) -> list[dict[str, Any]]:
    merged: dict[str, set[str]] = {}
    for source in sources:
        for matter, keys in source.items():
            merged.setdefault(matter, set()).update(f"{c}/{n}" for c, n in keys)
    return [{"matter": m, "blobs": sorted(keys)} for m, keys in sorted(merged.items())]


def build_certificate(plan: Plan, execution: Execution, *, completed_at: datetime,
                      completed_by: str) -> dict[str, Any]:
    disposed: list[dict[str, Any]] = []
    per_container: dict[str, int] = {}
    size = 0
    for blob in plan.blobs:
        if not execution.disposed(blob):
            continue
        per_container[blob.container] = per_container.get(blob.container, 0) + 1
        for version in blob.versions:
            outcome = execution.outcomes[(blob.container, blob.name, version.version_id)]
            size += version.size
            disposed.append({"container": blob.container, "name": blob.name,
                             "version_id": version.version_id, "size": version.size,
                             "sha256": version.sha256, "seal": blob.seal,
                             "outcome": outcome})
    held = _held(plan.held, execution.held)
    skipped = plan.skipped + execution.skipped
    return {
        "schema": CERTIFICATE_SCHEMA,
        "run": plan.run_id,
        "policy": {"retention_days": plan.retention_days, "rule": POLICY_RULE},
        "cutoff": plan.cutoff.isoformat(),
        "planned_at": iso_utc(plan.planned_at),
        "completed_at": iso_utc(completed_at),
        "completed_by": completed_by,
        "resumed": completed_by != plan.run_id,
        "counts": {
            "deleted": per_container,
            "versions": len(disposed),
            "bytes": size,
            "index_rows": execution.index_rows,
            "latest_status_rows": execution.latest_status_rows,
            "held": len({b for entry in held for b in entry["blobs"]}),
            "skipped": len(skipped),
        },
        "disposed": disposed,
        "held": held,
        "skipped": skipped,
        "index": KEPT_ROWS_NOTE,
    }


def disposed_records(plan: Plan, execution: Execution) -> set[str]:
    return {b.name for b in plan.blobs
            if b.container == RECORDS_CONTAINER and execution.disposed(b)}


@dataclass(frozen=True)
class Certificate:
    run: str
    cutoff: date
    completed_at: str
    disposed: dict[tuple[str, str], frozenset[str]]  # (container, name) -> sha256s
    counts: dict[str, Any]

    def covers(self, container: str, name: str, sha256: str) -> bool:
        return sha256 in self.disposed.get((container, name), frozenset())


def parse_certificate(data: bytes) -> Certificate:
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("schema") != CERTIFICATE_SCHEMA:
            raise CertificateError("not a disposal certificate")
        disposed: dict[tuple[str, str], set[str]] = {}
        for item in doc["disposed"]:
            if isinstance(item.get("sha256"), str):
                key = (str(item["container"]), str(item["name"]))
                disposed.setdefault(key, set()).add(item["sha256"])
        return Certificate(
            run=str(doc["run"]), cutoff=date.fromisoformat(str(doc["cutoff"])),
            completed_at=str(doc["completed_at"]),
            disposed={k: frozenset(v) for k, v in disposed.items()},
            counts=dict(doc.get("counts") or {}),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, CertificateError):
            raise
        raise CertificateError(f"the certificate is malformed: {type(exc).__name__}") from None


def summary(certificate: Mapping[str, Any]) -> dict[str, Any]:
    """The certificate without its blob lists (for the CLI and the run's log)."""
    return {key: certificate[key] for key in (
        "run", "cutoff", "planned_at", "completed_at", "resumed", "counts")} | {
        "held_by_matter": {h["matter"]: len(h["blobs"]) for h in certificate["held"]}}
