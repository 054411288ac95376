"""`wa-archive custody check`: re-prove every record from the raw body it names.

For each record: the raw blob exists and hashes to the record's `raw.sha256`; the
signature stored with it (Meta's or Twilio's header, or the front door's MAC for
outbound captures, WASender and ACS deliveries) verifies with the configured secrets
(SECRET_SETTINGS names them per method); the record's own custody agrees
with the raw blob's; and parsing the raw body again yields an event with the
record's fingerprint under the record's name. A signature made with a secret the
archive no longer holds is reported as "signature kept, secret retired": it cannot
be re-verified, and it is not treated as a pass under --strict.

Media addenda (`<record>.media-<id>.json`) are checked against the record they
name (its sha256 must match), since they carry no event of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from archive.custody import (
    MAC_METHODS,
    METHOD_META,
    METHOD_OUTBOUND,
    METHOD_TWILIO,
    CustodyError,
    custody_from_metadata,
    verdict,
)
from archive.identity import event_fingerprint
from archive.layout import base_record_name, date_prefix, record_blob_name
from archive.names import (
    SETTING_APP_SECRET,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_TWILIO_AUTH_TOKEN,
)
from archive.parsing import parse_eras

Progress = Callable[[int], None]
ADDENDUM_MARK = ".media-"
# The setting whose (comma-separated) secrets re-verify each custody method. WASender
# and ACS bodies carry the front door's MAC, under the same key as outbound captures.
SECRET_SETTINGS: dict[str, str] = {
    METHOD_META: SETTING_APP_SECRET,
    METHOD_OUTBOUND: SETTING_CUSTODY_MAC_KEY,
    METHOD_TWILIO: SETTING_TWILIO_AUTH_TOKEN,
    **{method: SETTING_CUSTODY_MAC_KEY for method in MAC_METHODS},
}


def secrets_for(method: str, secrets: Mapping[str, Sequence[str]]) -> Sequence[str]:
    """The secrets given for `method`; a MAC method falls back to the outbound MAC keys."""
    given = secrets.get(method)
    if given:
        return given
    return secrets.get(METHOD_OUTBOUND, ()) if method in MAC_METHODS else ()


@dataclass(frozen=True)
class RecordCheck:
    path: str
    outcome: str  # "verified" | "secret-retired" | "failed"
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "outcome": self.outcome, "problems": list(self.problems)}


@dataclass
class CustodyReport:
    checked: int = 0
    verified: int = 0
    addenda: int = 0
    retired: list[RecordCheck] = field(default_factory=list)
    failed: list[RecordCheck] = field(default_factory=list)

    def add(self, result: RecordCheck) -> None:
        self.checked += 1
        if result.outcome == "verified":
            self.verified += 1
        elif result.outcome == "secret-retired":
            self.retired.append(result)
        else:
            self.failed.append(result)

    def ok(self, strict: bool = False) -> bool:
        return not self.failed and not (strict and self.retired)

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked, "verified": self.verified, "addenda": self.addenda,
            "secret_retired": [r.to_json() for r in self.retired],
            "failed": [r.to_json() for r in self.failed],
        }


def day_prefixes(start: date | None, end: date | None) -> list[str]:
    """Blob-name prefixes of the record days in range (records sit under their event day)."""
    if start is None and end is None:
        return [""]
    first = start or end
    last = end or start
    assert first is not None and last is not None
    if last < first:
        raise ValueError("--from is after --to")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [date_prefix(datetime.combine(d, time(0), tzinfo=UTC)) + "/" for d in days]


class _RawCache:
    """Raw bodies by path: several records (one per event) share one body."""

    def __init__(self, raw: ContainerClient) -> None:
        self.raw = raw
        self.bodies: dict[str, tuple[bytes, dict[str, str]] | None] = {}

    def get(self, path: str) -> tuple[bytes, dict[str, str]] | None:
        if path not in self.bodies:
            if len(self.bodies) > 256:
                self.bodies.clear()
            try:
                downloader = self.raw.download_blob(path)
                self.bodies[path] = (downloader.readall(),
                                     dict(downloader.properties.metadata or {}))
            except ResourceNotFoundError:
                self.bodies[path] = None
        return self.bodies[path]


def check_record(
    path: str, data: bytes, raws: _RawCache, secrets: Mapping[str, Sequence[str]]
) -> RecordCheck:
    try:
        record = json.loads(data)
        raw_ref = record["raw"]
        raw_path, raw_sha256 = str(raw_ref["path"]), str(raw_ref["sha256"])
    except (ValueError, KeyError, TypeError):
        return RecordCheck(path, "failed", ("not a record with a raw pointer",))
    found = raws.get(raw_path)
    if found is None:
        return RecordCheck(path, "failed", ("raw body is missing",))
    body, metadata = found
    if hashlib.sha256(body).hexdigest() != raw_sha256:
        return RecordCheck(path, "failed", ("raw body was altered: sha256 differs",))
    try:
        custody = custody_from_metadata(metadata)
    except CustodyError as exc:
        return RecordCheck(path, "failed", (exc.reason,))
    problems: list[str] = []
    kept = record.get("custody") or {}
    if (
        kept.get("signature") != custody.signature or kept.get("method") != custody.method
        or kept.get("authenticated_by") != custody.authenticated_by
        or kept.get("signed_url") != custody.signed_url
    ):
        problems.append("record custody differs from the raw body's")
    outcome = verdict(custody.method, body, custody.signature, custody.key_id,
                      secrets_for(custody.method, secrets),
                      authenticated_by=custody.authenticated_by, signed_url=custody.signed_url)
    if outcome == "invalid":
        problems.append("stored signature does not verify with the configured secret")
    events = [
        event
        for era in parse_eras(metadata.get("source", ""), body, custody.authenticated_at)
        for event in era.events
    ]
    base = base_record_name(path)
    if not any(
        event.message_id == record.get("message_id") and record_blob_name(event) == base
        and event_fingerprint(event) == record.get("fingerprint")
        for event in events
    ):
        problems.append("raw body does not yield this record")
    if problems:
        return RecordCheck(path, "failed", tuple(problems))
    return RecordCheck(path, outcome)


def _check_addendum(path: str, data: bytes, records: ContainerClient) -> RecordCheck | None:
    try:
        named = json.loads(data)["record"]
        original = records.download_blob(str(named["path"])).readall()
    except (ValueError, KeyError, TypeError, ResourceNotFoundError):
        return RecordCheck(path, "failed", ("addendum names no readable record",))
    if hashlib.sha256(original).hexdigest() != named.get("sha256"):
        return RecordCheck(path, "failed", ("addendum's record sha256 differs",))
    return None


def _names(records: ContainerClient, prefixes: Sequence[str]) -> Iterator[str]:
    for prefix in prefixes:
        for blob in records.list_blobs(name_starts_with=prefix or None):
            yield blob.name


def check_custody(
    records: ContainerClient,
    raw: ContainerClient,
    secrets: Mapping[str, Sequence[str]],
    *,
    start: date | None = None,
    end: date | None = None,
    progress: Progress | None = None,
) -> CustodyReport:
    report = CustodyReport()
    raws = _RawCache(raw)
    for name in _names(records, day_prefixes(start, end)):
        data = records.download_blob(name).readall()
        if ADDENDUM_MARK in name.rsplit("/", 1)[-1]:
            report.addenda += 1
            problem = _check_addendum(name, data, records)
            if problem:
                report.failed.append(problem)
            continue
        report.add(check_record(name, data, raws, secrets))
        if progress:
            progress(report.checked)
    return report
