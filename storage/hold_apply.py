"""Apply and release a matter's Azure legal holds over every blob version in its scope.

What a matter covers, blob by blob: each indexed record in scope (`index_rows_in_scope`),
the other documents beside it under the same stem (conflict siblings
`<stem>.conflict-<sha>.json`, media-recovery addenda `<stem>.media-<id>.json`, which the
index does not list), every media blob those documents name, and their raw bodies. Each
version of each blob gets its own version-level legal hold (`storage.blob_versions`).

Resumable: the matter row holds the counts and a cursor (the last record done),
checkpointed every few records; a re-run skips up to the cursor and repeats nothing
harmful (setting a hold that is set is a no-op, and one already seen set is skipped).

Settling: the pipeline's hold caches may not know a new matter (or a release) for up to
`CACHE_TTL_SECONDS`. So a phase ends (applying -> active, releasing -> released) only after
a full pass that *started* once that window had passed: any event archived under a stale
cache is indexed by then, and that pass reaches it.

Release un-holds a blob only when no other in-force matter covers it; for a raw body,
when no other in-force matter covers any of the events it holds. The list of other
matters is re-read before each record, and once more at the end of the pass: a matter
placed while this release ran gets its holds re-applied, so a race cannot strip them.

Nothing here logs a blob name, a participant or a matter's reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient

import telemetry
from archive.custody import CustodyError, custody_from_metadata
from archive.holds import HoldError, Matter, MatterState, any_covers, event_view, referenced_blobs
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.parsing import parse_body
from storage import blob_versions
from storage.blob_versions import BlobVersion
from storage.blobs import read_blob_with_metadata
from storage.holds import CACHE_TTL_SECONDS, HoldProgress, HoldRow, HoldStore
from storage.scope_reader import index_rows_in_scope

log = logging.getLogger("wa_archive.holds")

# Clocks of the admin machine and the function hosts differ a little; wait this much more.
SETTLE = timedelta(seconds=CACHE_TTL_SECONDS + 15)
CHECKPOINT_EVERY = 25

Decision = Literal["hold", "keep", "release"]
Outcome = Literal["set", "already", "unsupported", "gone"]


@dataclass(frozen=True)
class BlobDecision:
    """What the job decided for one blob (all its versions) and what the service said."""

    container: str
    name: str
    decision: Decision
    outcome: Outcome


@dataclass
class VersionOps:
    """The blob-version adapter, replaceable in tests of the per-version calls."""

    versions_of: Callable[[ContainerClient, str], list[BlobVersion]] = blob_versions.versions_of
    list_versions: Callable[[ContainerClient, str], Iterator[BlobVersion]] = (
        blob_versions.list_versions
    )
    set_legal_hold: Callable[[ContainerClient, BlobVersion, bool], str] = (
        blob_versions.set_legal_hold
    )
    versioning_supported: Callable[[BlobServiceClient], bool] = (
        blob_versions.versioning_supported
    )


def change_versions(
    container: ContainerClient, versions: list[BlobVersion], on: bool, ops: VersionOps
) -> Outcome:
    """Set (or clear) the legal hold of each version not already so; the blob's outcome."""
    outcomes: set[str] = set()
    for version in versions:
        if version.legal_hold == on and version.version_id is not None:
            outcomes.add("already")
            continue
        outcomes.add(ops.set_legal_hold(container, version, on))
    if not versions:
        return "gone"
    order: tuple[Outcome, ...] = ("unsupported", "set", "already")
    return next((outcome for outcome in order if outcome in outcomes), "gone")


class _Pass:
    """One pass over a scope: decides and applies per blob, counts into `progress`."""

    def __init__(
        self, blobs: BlobServiceClient, tables: TableServiceClient, matter: Matter,
        progress: HoldProgress, ops: VersionOps,
        on_blob: Callable[[BlobDecision], None] | None,
    ) -> None:
        self.tables = tables
        self.matter = matter
        self.progress = progress
        self.ops = ops
        self.on_blob = on_blob
        self.supported = ops.versioning_supported(blobs)
        self.records = blobs.get_container_client(RECORDS_CONTAINER)
        self.media = blobs.get_container_client(MEDIA_CONTAINER)
        self.raw = blobs.get_container_client(RAW_CONTAINER)
        self.raw_done: set[str] = set()
        self.others: list[Matter] = []

    def _count(self, decision: Decision, outcome: Outcome) -> None:
        p = self.progress
        key = {"hold": "blobs_held", "keep": "blobs_kept", "release": "blobs_released"}[decision]
        changes = {key: getattr(p, key) + 1}
        if outcome == "unsupported":
            changes["blobs_unsupported"] = p.blobs_unsupported + 1
        elif outcome == "gone":
            changes["blobs_gone"] = p.blobs_gone + 1
        self.progress = replace(p, **changes)

    def _act(self, container: ContainerClient, name: str, decision: Decision,
             versions: list[BlobVersion] | None = None) -> None:
        if decision == "keep":
            outcome: Outcome = "already"
        elif not self.supported:
            outcome = "unsupported"  # Azurite: the Holds table alone protects the blob
        else:
            if versions is None:
                versions = self.ops.versions_of(container, name)
            outcome = change_versions(container, versions, decision == "hold", self.ops)
        if outcome == "set":
            telemetry.holds("set" if decision == "hold" else "released", 1)
        self._count(decision, outcome)
        if self.on_blob is not None:
            self.on_blob(BlobDecision(container.container_name, name, decision, outcome))

    def _stem_documents(self, record_path: str) -> dict[str, list[BlobVersion]]:
        """The record and its siblings/addenda (same stem), each with its versions."""
        stem = record_path.removesuffix(".json")
        found: dict[str, list[BlobVersion]] = {}
        if self.supported:
            for version in self.ops.list_versions(self.records, stem + "."):
                found.setdefault(version.name, []).append(version)
        else:
            for blob in self.records.list_blobs(name_starts_with=stem + "."):
                found[blob.name] = []
        # `<stem>.` also matches nothing but this record's family: stems end in a fixed
        # event/direction suffix, and other names in the folder differ before the dot.
        return found

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            value = json.loads(self.records.download_blob(name).readall())
        except (ResourceNotFoundError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _raw_covered_by_others(self, raw_path: str) -> bool:
        """Does another in-force matter cover any event this raw body holds?"""
        try:
            body, metadata = read_blob_with_metadata(self.raw, raw_path)
            received = custody_from_metadata(metadata).authenticated_at
        except ResourceNotFoundError:
            return False
        except CustodyError:
            return True  # cannot tell which events it holds: keeping it is the safe side
        events = parse_body(metadata.get("source", ""), body, received).events
        return any_covers([event_view(e) for e in events], self.others)

    def record(self, row: dict[str, Any], releasing: bool, reload_others: bool) -> None:
        if reload_others:
            self.others = [
                m for m in HoldStore(self.tables).in_force()
                if m.matter_id != self.matter.matter_id
            ]
        record_path = str(row["record_path"])
        keep = releasing and any_covers([row], self.others)
        decision: Decision = "hold" if not releasing else ("keep" if keep else "release")
        documents = self._stem_documents(record_path)
        documents.setdefault(record_path, [])  # listed or not, the record itself is in scope
        media: list[str] = []
        raws: list[str] = []
        for name, versions in sorted(documents.items()):
            self._act(self.records, name, decision, versions or None)
            doc_media, doc_raw = referenced_blobs(self._read_json(name))
            media.extend(doc_media)
            if doc_raw:
                raws.append(doc_raw)
        for path in sorted(set(media)):
            self._act(self.media, path, decision)
        for raw_path in sorted(set(raws) - self.raw_done):
            self.raw_done.add(raw_path)
            raw_decision = decision
            if releasing and not keep and self._raw_covered_by_others(raw_path):
                raw_decision = "keep"
            self._act(self.raw, raw_path, raw_decision)
        self.progress = replace(
            self.progress, records_done=self.progress.records_done + 1, cursor=record_path
        )


@dataclass
class HoldJob:
    """Runs a matter's apply or release to the end of its phase, checkpointing as it goes."""

    store: HoldStore
    blobs: BlobServiceClient
    tables: TableServiceClient
    progress: Callable[[HoldProgress, str], None] | None = None
    on_blob: Callable[[BlobDecision], None] | None = None
    ops: VersionOps = field(default_factory=VersionOps)
    settle: timedelta = SETTLE
    wait: bool = True
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep

    def _pass(self, row: HoldRow, releasing: bool) -> HoldRow:
        skipping = bool(row.progress.cursor)
        # A full pass counts afresh; a resumed one adds to the interrupted pass's counts.
        start = row.progress if skipping else HoldProgress(passes=row.progress.passes)
        run = _Pass(self.blobs, self.tables, row.matter, start, self.ops, self.on_blob)
        seen_cursor = False
        for index_row in index_rows_in_scope(self.tables, row.matter.scope):
            if skipping and not seen_cursor:
                seen_cursor = str(index_row.get("record_path")) == row.progress.cursor
                continue
            run.record(index_row, releasing, reload_others=releasing)
            if run.progress.records_done % CHECKPOINT_EVERY == 0:
                row = self.store.update(row, progress=run.progress)
                self._report(row.progress, "working")
        if skipping and not seen_cursor:
            # The cursor's record is no longer in the scope's listing: start over.
            row = self.store.update(row, progress=replace(run.progress, cursor=""))
            return self._pass(row, releasing)
        if releasing:
            self._reapply_newcomers(row)
        return self.store.update(
            row, progress=replace(run.progress, cursor="", passes=run.progress.passes + 1)
        )

    def _reapply_newcomers(self, row: HoldRow) -> None:
        """Matters placed after this release began: hold their scope again (idempotent)."""
        started = row.matter.released_at or row.matter.placed_at
        for other in HoldStore(self.tables).in_force():
            if other.matter_id != row.matter.matter_id and other.placed_at >= started - (
                self.settle
            ):
                again = _Pass(self.blobs, self.tables, other, HoldProgress(), self.ops, None)
                for index_row in index_rows_in_scope(self.tables, other.scope):
                    again.record(index_row, releasing=False, reload_others=False)

    def _report(self, progress: HoldProgress, what: str) -> None:
        if self.progress is not None:
            self.progress(progress, what)

    def run(self, matter_id: str) -> HoldRow:
        """Continue the matter's current phase: applying -> active, releasing -> released.

        An active matter gets one more full pass (re-apply); a released one is left as is.
        Returns the row; it is still `applying`/`releasing` when `wait` is off and the
        settling window has not passed yet (run again later to finish).
        """
        row = self.store.row(matter_id)
        if row is None:
            raise HoldError(f"no matter {matter_id}")
        state = row.matter.state
        if state == "released":
            return row
        if state == "active":
            return self._pass(row, releasing=False)
        releasing = state == "releasing"
        phase_start = row.matter.released_at if releasing else row.matter.placed_at
        assert phase_start is not None
        settled_at = phase_start + self.settle
        while True:
            full = not row.progress.cursor
            started = self.now()
            row = self._pass(row, releasing)
            self._report(row.progress, "pass done")
            if full and started >= settled_at:
                final: MatterState = "released" if releasing else "active"
                log.info("hold matter %s now %s", row.matter.matter_id, final)
                return self.store.update(row, matter=replace(row.matter, state=final))
            remaining = (settled_at - self.now()).total_seconds()
            if not self.wait and remaining > 0:
                return row
            if remaining > 0:
                self._report(row.progress, f"waiting {int(remaining) + 1}s for hold caches")
                self.sleep(remaining)
            row = self._fresh(row)

    def _fresh(self, row: HoldRow) -> HoldRow:
        found = self.store.row(row.matter.matter_id)
        if found is None:
            raise HoldError(f"matter {row.matter.matter_id} vanished")
        return found


def hold_written(
    blobs: BlobServiceClient, record: dict[str, Any], record_path: str, matter_ids: list[str],
    ops: VersionOps | None = None,
) -> dict[str, Any]:
    """Legal-hold a record just archived, its stored media and its raw body (every version).

    Storage calls: none more on an account without versioning (Azurite; detected once per
    process); otherwise one version listing per blob plus one Set Blob Legal Hold per
    version, i.e. 4 for a text message (record, raw body) and 2 more per media item.
    Raises on any other failure, so the activity retries rather than skip a hold.
    """
    ops = ops or VersionOps()
    media, raw_path = referenced_blobs(record)
    targets = [(RECORDS_CONTAINER, record_path), *((MEDIA_CONTAINER, m) for m in media)]
    if raw_path:
        targets.append((RAW_CONTAINER, raw_path))
    if not ops.versioning_supported(blobs):
        return {"matters": matter_ids, "blobs": len(targets), "result": "unsupported"}
    outcomes: list[str] = []
    for container_name, name in targets:
        container = blobs.get_container_client(container_name)
        outcomes.append(change_versions(container, ops.versions_of(container, name), True, ops))
    telemetry.holds("set", outcomes.count("set"))
    result = "set" if all(o in ("set", "already") for o in outcomes) else "partial"
    if "unsupported" in outcomes:
        result = "unsupported"
    return {"matters": matter_ids, "blobs": len(targets), "result": result,
            "gone": outcomes.count("gone")}
