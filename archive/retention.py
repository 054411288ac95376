"""Retention expiry, planned before anything is deleted (pure).

The rule: a record goes when its provider day (UTC) is before the cut-off day
(`cutoff_day`: the run's day minus ARCHIVE_RETENTION_DAYS), no in-force legal-hold
matter covers it, and no version of it carries an Azure legal hold or an immutability
policy that has not expired yet. Its media go with it unless a record that stays
points at them. A raw body goes only when every event it holds goes: each is past
the cut-off and unheld, and its record is going in this plan or no longer exists.
Failures rows are never deleted: they are diagnostics, not records.

The storage layer (storage.retention) lists and reads; this module decides and
builds the plan that is written create-only before the first delete, so a crashed
run can be finished from the plan alone (see storage.disposal).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from archive.canonical import canonical_json
from archive.events import CanonicalEvent
from archive.holds import Matter, matters_covering
from archive.layout import partition_name
from archive.names import RECORDS_CONTAINER
from archive.seal import DISPOSAL_PREFIX, day_prefix
from archive.timestamps import from_iso, iso_utc, require_aware

PLAN_SCHEMA = "wa-archive/disposal-plan@1"
PENDING_PREFIX = f"{DISPOSAL_PREFIX}pending/"
# The matter a blob is listed under when only its own Azure legal-hold flag keeps it.
BLOB_LEGAL_HOLD = "azure-legal-hold"
POLICY_RULE = ("records whose provider day (UTC) is before the cut-off day, with their "
               "media and the raw bodies all of whose events go; holds and unexpired "
               "immutability are skipped; failures rows are kept")
Row = tuple[str, str, str]  # (table, PartitionKey, RowKey)


class PlanError(ValueError):
    """A plan document that does not have the shape of a plan."""


def cutoff_day(at: datetime, days: int) -> date:
    """The first provider day that is kept: records of earlier days expire."""
    if days <= 0:
        raise ValueError("the retention period must be at least one day")
    return require_aware(at, "at").astimezone(UTC).date() - timedelta(days=days)


def partition_day(name: str) -> date | None:
    """The day of a `year=YYYY/month=MM/day=DD/...` name, or of a small media blob's
    `small/year=...` name (None for any other name)."""
    parts = partition_name(name).split("/", 3)
    if len(parts) < 4:
        return None
    try:
        keys = [p.split("=", 1) for p in parts[:3]]
        if [k for k, _ in keys] != ["year", "month", "day"]:
            return None
        return date(int(keys[0][1]), int(keys[1][1]), int(keys[2][1]))
    except (ValueError, IndexError):
        return None


def new_run_id(at: datetime, nonce: str) -> str:
    """`<UTC time>-<nonce>`: runs sort by start time; the nonce tells parallel runs apart."""
    return f"{require_aware(at, 'at').astimezone(UTC):%Y%m%dT%H%M%SZ}-{nonce}"


def pending_name(run_id: str) -> str:
    return f"{PENDING_PREFIX}{run_id}.json"


def certificate_name(run_id: str, completed_at: datetime) -> str:
    """In the completion day's `disposals/` partition, which that day's seal covers."""
    return f"{DISPOSAL_PREFIX}{day_prefix(completed_at.astimezone(UTC).date())}{run_id}.json"


def run_id_of(name: str) -> str:
    return name.rsplit("/", 1)[-1].removesuffix(".json")


def scope_facts(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a hold's Scope looks at, flat (a record@1 dict or an event's own fields)."""
    conversation = record.get("conversation")
    conv = conversation if isinstance(conversation, Mapping) else record
    return {"timestamp": record.get("timestamp"), "from": record.get("from"),
            "to": record.get("to"), "message_id": record.get("message_id"),
            "business_id": conv.get("business_id"), "customer_id": conv.get("customer_id")}


def event_facts(event: CanonicalEvent) -> dict[str, Any]:
    return {"timestamp": iso_utc(event.timestamp), "from": event.sender,
            "to": event.recipient, "message_id": event.message_id,
            "business_id": event.business_id, "customer_id": event.customer_id}


def facts_day(facts: Mapping[str, Any]) -> date | None:
    ts = from_iso(str(facts.get("timestamp") or ""))
    return ts.date() if ts else None


@dataclass(frozen=True)
class VersionInfo:
    """One blob version as planning needs it (storage.blob_versions.BlobVersion, pure)."""

    version_id: str | None
    size: int
    sha256: str | None
    legal_hold: bool = False
    immutable_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "size": self.size, "sha256": self.sha256}


def protection(versions: Iterable[VersionInfo], at: datetime) -> str | None:
    """Why Azure would refuse to delete this blob now: its legal hold, or immutability."""
    listed = list(versions)
    if any(v.legal_hold for v in listed):
        return "legal_hold"
    if any(v.immutable_until is not None and v.immutable_until > at for v in listed):
        return "immutable"
    return None


@dataclass(frozen=True)
class RecordCandidate:
    """A record of an expired day, as read from storage."""

    name: str
    facts: dict[str, Any]
    versions: tuple[VersionInfo, ...]
    raw_path: str | None
    media: tuple[str, ...]  # blob paths of its stored media
    rows: tuple[Row, ...]  # its index rows (archive.index.index_entities)
    message: str  # its message's partition in IndexByMessage


@dataclass(frozen=True)
class Decision:
    going: bool
    held_by: tuple[str, ...] = ()  # matter ids (BLOB_LEGAL_HOLD for the blob's own flag)
    skip: str | None = None  # "immutable" | "not_expired" | ...


def decide_record(candidate: RecordCandidate, matters: Sequence[Matter], cutoff: date,
                  at: datetime) -> Decision:
    day = facts_day(candidate.facts)
    if day is None or day >= cutoff:
        return Decision(False, skip="not_expired")
    held = list(matters_covering(candidate.facts, matters))
    guard = protection(candidate.versions, at)
    if guard == "legal_hold":
        held.append(BLOB_LEGAL_HOLD)
    if held:
        return Decision(False, held_by=tuple(held))
    if guard == "immutable":
        return Decision(False, skip="immutable")
    return Decision(True)


@dataclass(frozen=True)
class RawEvent:
    """One event a raw body holds: its record's name and what a Scope looks at."""

    record: str
    facts: dict[str, Any]


def decide_raw(events: Sequence[RawEvent], going: Callable[[str], bool],
               exists: Callable[[str], bool], matters: Sequence[Matter], cutoff: date
               ) -> Decision:
    """A raw body goes only when all its events go: each past the cut-off, unheld, and
    its record going now or already gone. `exists` is asked only when it matters."""
    held = sorted({m for e in events for m in matters_covering(e.facts, matters)})
    if held:
        return Decision(False, held_by=tuple(held))
    for event in events:
        day = facts_day(event.facts)
        if day is None or day >= cutoff:
            return Decision(False, skip="event_not_expired")
        if not going(event.record) and exists(event.record):
            return Decision(False, skip="record_stays")
    return Decision(True)


@dataclass(frozen=True)
class PlannedBlob:
    container: str
    name: str
    versions: tuple[VersionInfo, ...]
    seal: str | None  # the seal (`daily/<seq>.json`) that holds it, if its day is sealed
    after: tuple[str, ...] = ()  # records that must be disposed of first (media, raw)
    facts: dict[str, Any] | None = None  # a record's scope facts: holds re-checked at delete
    rows: tuple[Row, ...] = ()  # a record's index rows, deleted once it is disposed of
    message: str | None = None  # a record's message partition (its latest-status row)

    @property
    def key(self) -> tuple[str, str]:
        return (self.container, self.name)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"container": self.container, "name": self.name,
                               "versions": [v.to_dict() for v in self.versions],
                               "seal": self.seal}
        if self.after:
            doc["after"] = list(self.after)
        if self.facts is not None:
            doc["facts"] = self.facts
            doc["rows"] = [list(r) for r in self.rows]
            doc["message"] = self.message
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PlannedBlob:
        versions = tuple(VersionInfo(v.get("version_id"), int(v["size"]), v.get("sha256"))
                         for v in doc["versions"])
        facts = doc.get("facts")
        return cls(str(doc["container"]), str(doc["name"]), versions, doc.get("seal"),
                   tuple(doc.get("after") or ()), dict(facts) if facts is not None else None,
                   tuple((str(t), str(p), str(r)) for t, p, r in doc.get("rows") or ()),
                   doc.get("message"))


@dataclass
class Plan:
    """What one run will delete, what it holds back and why; written before any delete."""

    run_id: str
    planned_at: datetime
    retention_days: int
    cutoff: date
    blobs: list[PlannedBlob] = field(default_factory=list)
    held: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def hold(self, container: str, name: str, matters: Iterable[str]) -> None:
        for matter in matters:
            self.held.setdefault(matter, []).append((container, name))

    def skip(self, container: str, name: str, reason: str) -> None:
        self.skipped.append({"container": container, "name": name, "reason": reason})

    @property
    def records(self) -> set[str]:
        return {b.name for b in self.blobs if b.container == RECORDS_CONTAINER}

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for blob in self.blobs:
            counts[blob.container] = counts.get(blob.container, 0) + 1
        return counts

    def size(self) -> int:
        return sum(v.size for b in self.blobs for v in b.versions)

    def to_document(self) -> bytes:
        return canonical_json({
            "schema": PLAN_SCHEMA, "run": self.run_id,
            "planned_at": iso_utc(self.planned_at),
            "policy": {"retention_days": self.retention_days, "rule": POLICY_RULE},
            "cutoff": self.cutoff.isoformat(),
            "blobs": [b.to_dict() for b in self.blobs],
            "held": {m: [list(k) for k in sorted(set(keys))]
                     for m, keys in sorted(self.held.items())},
            "skipped": self.skipped,
        })

    @classmethod
    def from_document(cls, data: bytes) -> Plan:
        try:
            doc = json.loads(data)
            if doc.get("schema") != PLAN_SCHEMA:
                raise PlanError("not a disposal plan")
            planned_at = from_iso(str(doc["planned_at"]))
            if planned_at is None:
                raise PlanError("the plan's time is not ISO-8601")
            return cls(
                run_id=str(doc["run"]), planned_at=planned_at,
                retention_days=int(doc["policy"]["retention_days"]),
                cutoff=date.fromisoformat(str(doc["cutoff"])),
                blobs=[PlannedBlob.from_dict(b) for b in doc["blobs"]],
                held={str(m): [(str(c), str(n)) for c, n in keys]
                      for m, keys in doc.get("held", {}).items()},
                skipped=[dict(s) for s in doc.get("skipped", [])],
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, PlanError):
                raise
            raise PlanError(f"the plan is malformed: {type(exc).__name__}") from None

    def summary(self) -> dict[str, Any]:
        """For a dry run: what would go and what is held, by matter (counts and names)."""
        return {"run": self.run_id, "cutoff": self.cutoff.isoformat(),
                "retention_days": self.retention_days, "would_delete": self.counts(),
                "bytes": self.size(),
                "blobs": [f"{b.container}/{b.name}" for b in self.blobs],
                "held": {m: sorted({f"{c}/{n}" for c, n in keys})
                         for m, keys in sorted(self.held.items())},
                "skipped": self.skipped}


def folder_of(record_name: str) -> str:
    """A record's message folder: its media sit there, so a batch never splits one."""
    return record_name.rsplit("/", 1)[0]


def media_plan(candidates: Sequence[RecordCandidate], decisions: Mapping[str, Decision]
               ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(media path -> records it waits for) to go, and (media path -> matters) held:
    a media blob that any staying record points at stays with it."""
    users: dict[str, list[str]] = {}
    for candidate in candidates:
        for path in candidate.media:
            users.setdefault(path, []).append(candidate.name)
    going: dict[str, tuple[str, ...]] = {}
    held: dict[str, tuple[str, ...]] = {}
    for path, names in users.items():
        staying = [decisions[n] for n in names if not decisions[n].going]
        if not staying:
            going[path] = tuple(sorted(names))
        else:
            held[path] = tuple(sorted({m for d in staying for m in d.held_by}))
    return going, held


RECOVERY_SCHEMA = "wa-archive/media-recovery@1"  # orchestrations.recovery's addenda


def document_facts(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """Scope facts of a records-container document: a record, or a media-recovery
    addendum (whose event skeleton carries them); None when it is neither."""
    if document.get("schema") == RECOVERY_SCHEMA:
        event = document.get("event")
        if not isinstance(event, Mapping):
            return None
        return {"timestamp": event.get("timestamp"), "from": event.get("sender"),
                "to": event.get("recipient"), "message_id": event.get("message_id"),
                "business_id": event.get("business_id"),
                "customer_id": event.get("customer_id")}
    facts = scope_facts(document)
    return facts if facts_day(facts) is not None else None


def addendum_base(document: Mapping[str, Any]) -> str | None:
    """The record a media-recovery addendum belongs to: it stays while that record stays."""
    if document.get("schema") != RECOVERY_SCHEMA:
        return None
    record = document.get("record")
    path = record.get("path") if isinstance(record, Mapping) else None
    return path if isinstance(path, str) and path else None
