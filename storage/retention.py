"""Plan a retention run: list expired days, read their records, decide (archive.retention).

Walks the `records` container's `year=/month=/day=` folders (a delimiter listing per
level, so emptied days cost nothing) for provider days before the cut-off, oldest first.
Per day: one version listing of the records partition and two of the media partition
(`year=...` and `small/year=...`, where small media sit; versions, legal holds,
immutability and the writers' sha256 come with them), one Get Blob per record (its
content decides holds and names its media and raw body), one Get Blob per raw body
(re-derived into its events with archive.parsing.parse_body, so a raw body shared by
several events goes only when all of them go), and a version listing for the raw
bodies (per raw day when many sit there, else per blob).

A plan is bounded (`limit` blobs) and never splits a message folder, where a
record's media sit; `Planner.next_plan` continues after the previous plan's last
folder, so one invocation can work through a backlog plan by plan.
Nothing here writes or deletes. Nothing is logged but counts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from archive.custody import CustodyError, custody_from_metadata
from archive.holds import Matter, referenced_blobs
from archive.index import index_entities, message_key
from archive.layout import SMALL_MEDIA_PREFIX, record_blob_name
from archive.names import (
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SEALS_CONTAINER,
    TABLE_FLAGS,
)
from archive.parsing import parse_body
from archive.retention import (
    Decision,
    Plan,
    PlannedBlob,
    RawEvent,
    RecordCandidate,
    Row,
    VersionInfo,
    addendum_base,
    cutoff_day,
    decide_raw,
    decide_record,
    document_facts,
    event_facts,
    folder_of,
    media_plan,
    partition_day,
    protection,
)
from archive.seal import SealError, day_prefix
from storage.blob_versions import BlobVersion, list_versions, versions_of
from storage.blobs import read_blob_with_metadata
from storage.sealing import SealChain, SealEntry

DEFAULT_LIMIT = 10_000  # blobs per plan: a plan (and its certificate) stays a few MB
WORKERS = 16
# Raw bodies wanted from one receive day: from this many on, one listing beats a
# version lookup per blob.
LIST_RAW_DAY_FROM = 20
Progress = Callable[[str, int], None]


def info(version: BlobVersion, sha256: str | None = None) -> VersionInfo:
    return VersionInfo(version.version_id, version.size, sha256 or version.sha256,
                       version.legal_hold, version.immutable_until)


def _prefixes(container: ContainerClient, prefix: str) -> list[str]:
    return sorted(item.name for item in container.walk_blobs(name_starts_with=prefix,
                                                               delimiter="/")
                  if item.name.endswith("/"))


def expired_days(records: ContainerClient, cutoff: date) -> list[date]:
    """Days with records before the cut-off, oldest first (three listing levels)."""
    days: list[date] = []
    for year in _prefixes(records, ""):
        if not year.startswith("year=") or year[5:9] > f"{cutoff:%Y}":
            continue
        for month in _prefixes(records, year):
            for folder in _prefixes(records, month):
                day = partition_day(folder + "x")
                if day is not None and day < cutoff:
                    days.append(day)
    return sorted(days)


class SealLookup:
    """Which seal holds a blob: the day's seals are read once, on first use."""

    def __init__(self, blobs: BlobServiceClient) -> None:
        self.chain = SealChain(blobs.get_container_client(SEALS_CONTAINER))
        self._entries: list[SealEntry] | None = None
        self._days: dict[date, dict[tuple[str, str], str]] = {}

    def seal_of(self, container: str, name: str) -> str | None:
        day = partition_day(name)
        if day is None:
            return None
        if day not in self._days:
            if self._entries is None:
                self._entries = self.chain.entries()
            held: dict[tuple[str, str], str] = {}
            wanted = [e for e in self._entries if e.day in (None, day.isoformat())]
            for entry in wanted:
                try:
                    stored = self.chain.read(entry.name)
                except SealError:
                    continue  # verification reports it; it vouches for nothing
                if stored.seal.day == day:
                    held.update({leaf.key: entry.name for leaf in stored.seal.leaves})
            self._days[day] = held
        return self._days[day].get((container, name))


def _grouped(versions: Iterator[BlobVersion]) -> dict[str, list[BlobVersion]]:
    grouped: dict[str, list[BlobVersion]] = {}
    for version in versions:
        grouped.setdefault(version.name, []).append(version)
    return grouped


@dataclass
class _Day:
    day: date
    records: dict[str, list[BlobVersion]]
    media: dict[str, list[BlobVersion]] | None = None
    flags: dict[str, list[tuple[str, str]]] | None = None


@dataclass
class Planner:
    """Builds plans for one invocation; each continues where the last one stopped."""

    blobs: BlobServiceClient
    matters: Sequence[Matter]
    now: datetime
    retention_days: int
    limit: int | None = DEFAULT_LIMIT
    progress: Progress | None = None
    # record path -> its Flags rows' keys, for one provider day (storage.flags); None: the
    # caller keeps flags (they are then left behind, naming words of disposed records).
    flags_of_day: Callable[[date], dict[str, list[tuple[str, str]]]] | None = None
    seals: SealLookup = field(init=False)
    cutoff: date = field(init=False)
    _days: list[date] | None = field(default=None, init=False)
    _current: _Day | None = field(default=None, init=False)
    _folders: deque[str] = field(default_factory=deque, init=False)
    _sizes: Counter[str] = field(default_factory=Counter, init=False)
    _names: dict[str, list[str]] = field(default_factory=dict, init=False)
    _known: dict[str, bool] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.seals = SealLookup(self.blobs)
        self.cutoff = cutoff_day(self.now, self.retention_days)

    def container(self, name: str) -> ContainerClient:
        return self.blobs.get_container_client(name)

    def _next_folders(self) -> tuple[_Day, deque[str]] | None:
        """The next day's remaining folders (None: nothing expired is left)."""
        if self._days is None:
            self._days = expired_days(self.container(RECORDS_CONTAINER), self.cutoff)
        while not self._folders:
            if not self._days:
                return None
            day = self._days.pop(0)
            listed = _grouped(list_versions(self.container(RECORDS_CONTAINER),
                                            day_prefix(day)))
            self._known.update(dict.fromkeys(listed, True))
            self._current = _Day(day, listed)
            self._names = {}
            for name in listed:
                self._names.setdefault(folder_of(name), []).append(name)
            self._sizes = Counter({f: len(n) for f, n in self._names.items()})
            self._folders = deque(sorted(self._sizes))
        assert self._current is not None
        return self._current, self._folders

    def next_plan(self, run_id: str) -> Plan | None:
        """The next bounded plan; None when nothing expired is left to look at."""
        plan = Plan(run_id, self.now, self.retention_days, self.cutoff)
        looked = False
        while self.limit is None or len(plan.blobs) < self.limit:
            found = self._next_folders()
            if found is None:
                break
            day, folders = found
            take: list[str] = []
            expected = len(plan.blobs)
            # Whole folders, up to the limit (at least one, however large); a record
            # brings about one more blob (its raw body, its media).
            while folders and (not take or self.limit is None or expected < self.limit):
                take.append(folders.popleft())
                expected += 2 * self._sizes[take[-1]]
            self._plan_folders(plan, day, set(take))
            looked = True
        return plan if looked else None

    def gone(self, records: set[str]) -> None:
        """Records a finished plan disposed of: later plans treat them as gone."""
        self._known.update(dict.fromkeys(records, False))

    def _plan_folders(self, plan: Plan, day: _Day, folders: set[str]) -> None:
        names = sorted(n for folder in folders for n in self._names[folder])
        if day.media is None:
            # Media of a day sit under its folder and, when small, under `small/`.
            media = self.container(MEDIA_CONTAINER)
            day.media = {}
            for prefix in (day_prefix(day.day), SMALL_MEDIA_PREFIX + day_prefix(day.day)):
                day.media.update(_grouped(list_versions(media, prefix)))
        with ThreadPoolExecutor(WORKERS) as pool:
            read = list(pool.map(lambda n: self._candidate(n, day.records[n]), names))
        candidates: list[RecordCandidate] = []
        bases: dict[str, str] = {}
        for name, result in zip(names, read, strict=True):
            if isinstance(result, str):
                plan.skip(RECORDS_CONTAINER, name, result)
                continue
            candidate, base = result
            candidates.append(candidate)
            if base:
                bases[name] = base
        decisions = {c.name: decide_record(c, self.matters, plan.cutoff, self.now)
                     for c in candidates}
        for name, base in bases.items():  # an addendum stays while its record stays
            if base in decisions and not decisions[base].going and decisions[name].going:
                decisions[name] = Decision(False, held_by=decisions[base].held_by,
                                           skip=decisions[base].skip)
        going = [c for c in candidates if decisions[c.name].going]
        for candidate in candidates:
            decision = decisions[candidate.name]
            if decision.held_by:
                # A held record keeps its raw body and media: they are held with it.
                plan.hold(RECORDS_CONTAINER, candidate.name, decision.held_by)
                if candidate.raw_path:
                    plan.hold(RAW_CONTAINER, candidate.raw_path, decision.held_by)
            elif decision.skip and decision.skip != "not_expired":
                plan.skip(RECORDS_CONTAINER, candidate.name, decision.skip)
        if going and day.flags is None:
            day.flags = self.flags_of_day(day.day) if self.flags_of_day else {}
        for candidate in going:
            flags = tuple((TABLE_FLAGS, pk, rk) for pk, rk in (day.flags or {}).get(
                candidate.name, ()))
            plan.blobs.append(PlannedBlob(
                RECORDS_CONTAINER, candidate.name, candidate.versions,
                self.seals.seal_of(RECORDS_CONTAINER, candidate.name),
                facts=candidate.facts, rows=candidate.rows + flags, message=candidate.message))
        self._plan_media(plan, day, candidates, decisions)
        self._plan_raw(plan, going)
        if self.progress:
            self.progress("planned", len(plan.blobs))

    def _candidate(self, name: str, versions: list[BlobVersion]
                   ) -> tuple[RecordCandidate, str | None] | str:
        current = next((v for v in versions if v.is_current), None)
        if current is None:
            return "no_current_version"
        try:
            data = self.container(RECORDS_CONTAINER).download_blob(name).readall()
            document = json.loads(data)
        except ResourceNotFoundError:
            return "gone_while_planning"
        except ValueError:
            return "unreadable"
        facts = document_facts(document) if isinstance(document, dict) else None
        if facts is None:
            return "unreadable"
        digest = hashlib.sha256(data).hexdigest()
        media, raw_path = referenced_blobs(document)
        rows: tuple[Row, ...] = ()
        base = addendum_base(document)
        # Conflict siblings and addenda are not indexed; the first record is.
        if base is None and ".conflict-" not in name:
            try:
                rows = tuple((table, e["PartitionKey"], e["RowKey"]) for table, entities
                             in index_entities(document, name).items() for e in entities)
            except (KeyError, TypeError, ValueError):
                rows = ()
        infos = tuple(info(v, digest if v is current else None) for v in versions)
        message = message_key(str(facts.get("message_id") or ""))
        return RecordCandidate(name, facts, infos, raw_path, tuple(media), rows, message), base

    def _plan_media(self, plan: Plan, day: _Day, candidates: list[RecordCandidate],
                    decisions: dict[str, Decision]) -> None:
        going, held = media_plan(candidates, decisions)
        assert day.media is not None
        for path, matters in held.items():
            if matters and path in day.media:
                plan.hold(MEDIA_CONTAINER, path, matters)
        for path, after in sorted(going.items()):
            versions = day.media.get(path)
            if not versions:
                continue  # never stored, or already gone
            guard = protection([info(v) for v in versions], self.now)
            if guard:
                plan.skip(MEDIA_CONTAINER, path, guard)
                continue
            plan.blobs.append(PlannedBlob(MEDIA_CONTAINER, path,
                                          tuple(info(v) for v in versions),
                                          self.seals.seal_of(MEDIA_CONTAINER, path), after))

    def _exists(self, record: str) -> bool:
        if record not in self._known:
            client = self.container(RECORDS_CONTAINER).get_blob_client(record)
            self._known[record] = bool(client.exists())
        return self._known[record]

    def _plan_raw(self, plan: Plan, going: list[RecordCandidate]) -> None:
        users: dict[str, list[str]] = {}
        for candidate in going:
            if candidate.raw_path:
                users.setdefault(candidate.raw_path, []).append(candidate.name)
        if not users:
            return
        planned = plan.records
        paths = sorted(users)
        with ThreadPoolExecutor(WORKERS) as pool:
            events = list(pool.map(self._raw_events, paths))
        versions = self._raw_versions(paths)
        for path, found in zip(paths, events, strict=True):
            if isinstance(found, str):
                plan.skip(RAW_CONTAINER, path, found)
                continue
            digest, raw_events = found
            decision = decide_raw(raw_events, planned.__contains__, self._exists,
                                  self.matters, plan.cutoff)
            if decision.held_by:
                plan.hold(RAW_CONTAINER, path, decision.held_by)
                continue
            listed = versions.get(path)
            if not decision.going or not listed:
                continue
            guard = protection([info(v) for v in listed], self.now)
            if guard:
                plan.skip(RAW_CONTAINER, path, guard)
                continue
            after = tuple(sorted({e.record for e in raw_events} & planned))
            plan.blobs.append(PlannedBlob(
                RAW_CONTAINER, path,
                tuple(info(v, digest if v.is_current else None) for v in listed),
                self.seals.seal_of(RAW_CONTAINER, path), after))

    def _raw_events(self, path: str) -> tuple[str, list[RawEvent]] | str:
        """The events a raw body holds, re-derived from its bytes. The body must hash to
        the sha256 its name (and metadata) records: its integrity is what matters here,
        and signatures cannot always be re-checked years later (secrets rotate)."""
        try:
            body, metadata = read_blob_with_metadata(self.container(RAW_CONTAINER), path)
        except ResourceNotFoundError:
            return "gone_while_planning"
        digest = hashlib.sha256(body).hexdigest()
        claimed = metadata.get("sha256")
        if path.rsplit("/", 1)[-1] != f"{digest}.json" or (claimed and claimed != digest):
            return "raw_body_altered"
        try:
            received = custody_from_metadata(metadata).authenticated_at
        except CustodyError:
            return "raw_custody_unreadable"
        parsed = parse_body(metadata.get("source", ""), body, received)
        if not parsed.events:
            return "raw_body_has_no_events"
        return digest, [RawEvent(record_blob_name(e), event_facts(e)) for e in parsed.events]

    def _raw_versions(self, paths: list[str]) -> dict[str, list[BlobVersion]]:
        by_day: dict[str, list[str]] = {}
        for path in paths:
            by_day.setdefault(path.rsplit("/", 1)[0] + "/", []).append(path)
        raw = self.container(RAW_CONTAINER)
        found: dict[str, list[BlobVersion]] = {}
        for prefix, wanted in by_day.items():
            if len(wanted) >= LIST_RAW_DAY_FROM:
                listed = _grouped(list_versions(raw, prefix))
                found.update({p: listed[p] for p in wanted if p in listed})
                continue
            with ThreadPoolExecutor(WORKERS) as pool:
                for path, versions in zip(wanted, pool.map(lambda p: versions_of(raw, p),
                                                           wanted), strict=True):
                    if versions:
                        found[path] = versions
        return found


def version_of(blob: PlannedBlob, version: VersionInfo) -> BlobVersion:
    """What storage.blob_versions.delete_version needs, from a stored plan."""
    return BlobVersion(blob.container, blob.name, version.version_id, True, version.size,
                       False, None, version.sha256)

