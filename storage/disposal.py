"""Carry out a disposal plan, crash-safely, and keep its certificate in `seals`.

Order of one run (storage.retention_run drives it):
1. the plan is written create-only to `seals/disposals/pending/<run id>.json` before the
   first delete;
2. records are deleted version by version (holds re-checked against the matters in
   force now; a version Azure refuses as held or immutable is a skip, not a failure);
3. the index rows of every disposed record, then the `latest-status` row of a message
   with nothing else left (failures rows are kept: they are diagnostics);
4. media and raw bodies whose records all went;
5. the certificate, create-only, at `seals/disposals/year=/month=/day=/<run id>.json`.

A crash anywhere leaves a pending plan without a certificate; the next run finishes it
first. A version already gone counts as disposed by that plan (it was deleted before
the crash), so nothing is deleted twice and the certificate is complete.

Every delete goes through `delete` (storage.blob_versions.delete_version by default) and,
after each one, `after_delete(count)`: tests inject a hook that raises after N deletes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, Literal

from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient

import telemetry
from archive.canonical import canonical_json, sha256_hex
from archive.disposal import (
    Certificate,
    CertificateError,
    Execution,
    build_certificate,
    disposed_records,
    parse_certificate,
    waits_for_kept,
)
from archive.holds import Matter, matters_covering
from archive.index import LATEST_STATUS_ROW
from archive.names import RECORDS_CONTAINER, SEALS_CONTAINER, TABLE_BY_MESSAGE
from archive.retention import (
    BLOB_LEGAL_HOLD,
    PENDING_PREFIX,
    Plan,
    PlannedBlob,
    Row,
    certificate_name,
    partition_day,
    pending_name,
    run_id_of,
)
from archive.seal import DISPOSAL_PREFIX
from storage.blob_versions import BlobVersion, delete_version
from storage.blobs import JSON_CONTENT, create_only, read_blob

log = logging.getLogger("wa_archive.retention")
WORKERS = 16
_TRANSACTION_ROWS = 100  # Table transactions: at most 100 operations, one partition
CERTIFICATES_PREFIX = f"{DISPOSAL_PREFIX}year="
Deleter = Callable[[ContainerClient, BlobVersion], Literal["deleted", "gone", "held", "immutable"]]
AfterDelete = Callable[[int], None]


def _json_metadata(data: bytes, **extra: str) -> dict[str, str]:
    return {"sha256": sha256_hex(data), **extra}


def write_plan(blobs: BlobServiceClient, plan: Plan) -> str:
    data = plan.to_document()
    name = pending_name(plan.run_id)
    create_only(blobs.get_container_client(SEALS_CONTAINER), name, data, JSON_CONTENT,
                metadata=_json_metadata(data, run=plan.run_id))
    return name


def read_plan(blobs: BlobServiceClient, run_id: str) -> Plan:
    return Plan.from_document(read_blob(blobs.get_container_client(SEALS_CONTAINER),
                                        pending_name(run_id)))


def certified_runs(seals: ContainerClient) -> set[str]:
    return {run_id_of(b.name) for b in seals.list_blobs(name_starts_with=CERTIFICATES_PREFIX)}


def unfinished_runs(blobs: BlobServiceClient) -> list[str]:
    """Plans written without a certificate (a crashed or interrupted run), oldest first."""
    seals = blobs.get_container_client(SEALS_CONTAINER)
    pending = sorted(run_id_of(b.name) for b in seals.list_blobs(name_starts_with=PENDING_PREFIX))
    if not pending:
        return []
    done = certified_runs(seals)
    return [run for run in pending if run not in done]


def _day_range(plan: Plan) -> dict[str, str]:
    days = sorted({d for b in plan.blobs if (d := partition_day(b.name)) is not None})
    return {"first_day": days[0].isoformat(), "last_day": days[-1].isoformat()} if days else {}


def write_certificate(blobs: BlobServiceClient, plan: Plan, execution: Execution,
                      completed_at: datetime, completed_by: str) -> tuple[str, dict[str, Any]]:
    """The certificate, create-only; its day range rides in the metadata, so `verify`
    reads only the certificates that can name a day's blobs."""
    doc = build_certificate(plan, execution, completed_at=completed_at,
                            completed_by=completed_by)
    data = canonical_json(doc)
    name = certificate_name(plan.run_id, completed_at)
    seals = blobs.get_container_client(SEALS_CONTAINER)
    if not create_only(seals, name, data, JSON_CONTENT,
                       metadata=_json_metadata(data, run=plan.run_id, **_day_range(plan))):
        log.info("disposal certificate of run %s already written", plan.run_id)
    return name, doc


class _Deletes:
    """Counts deletes (for the crash hook) across worker threads."""

    def __init__(self, blobs: BlobServiceClient, delete: Deleter,
                 after: AfterDelete | None) -> None:
        self.blobs, self.delete, self.after = blobs, delete, after
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, blob: PlannedBlob) -> list[tuple[str | None, str]]:
        container = self.blobs.get_container_client(blob.container)
        outcomes: list[tuple[str | None, str]] = []
        for version in blob.versions:
            target = BlobVersion(blob.container, blob.name, version.version_id, True,
                                 version.size, False, None, version.sha256)
            outcome = self.delete(container, target)
            outcomes.append((version.version_id, outcome))
            if outcome == "deleted":
                with self.lock:
                    self.count += 1
                    count = self.count
                if self.after is not None:
                    self.after(count)
            elif outcome in ("held", "immutable"):
                break  # the blob stays: leave its other versions too
        return outcomes


def _delete_all(deletes: _Deletes, blobs: Sequence[PlannedBlob], execution: Execution) -> None:
    deleted: dict[str, int] = {}
    with ThreadPoolExecutor(WORKERS) as pool:
        for blob, outcomes in zip(blobs, pool.map(deletes, blobs), strict=True):
            for version_id, outcome in outcomes:
                execution.outcomes[(blob.container, blob.name, version_id)] = outcome
                if outcome == "deleted":
                    deleted[blob.container] = deleted.get(blob.container, 0) + 1
            refused = {o for _, o in outcomes} & {"held", "immutable"}
            if "held" in refused:
                execution.hold(blob, [BLOB_LEGAL_HOLD])
            elif refused:
                execution.skip(blob, "immutable")
    # Versions this call deleted ("gone": deleted by a run that crashed, counted then).
    for container, count in sorted(deleted.items()):
        telemetry.disposed(container, count)


def _delete_rows(tables: TableServiceClient, rows: Iterable[Row]) -> int:
    """Index rows, one transaction per partition and 100 rows; a transaction that fails
    (a row already gone after a crash) falls back to single deletes, which ignore 404."""
    groups: dict[tuple[str, str], list[str]] = {}
    for table, partition, row in rows:
        groups.setdefault((table, partition), []).append(row)

    def one(item: tuple[tuple[str, str], list[str]]) -> int:
        (table, partition), keys = item
        client = tables.get_table_client(table)
        for start in range(0, len(keys), _TRANSACTION_ROWS):
            chunk = sorted(set(keys[start:start + _TRANSACTION_ROWS]))
            try:
                if len(chunk) == 1:
                    raise ValueError("single row")
                client.submit_transaction(
                    [("delete", {"PartitionKey": partition, "RowKey": k}) for k in chunk])
            except (HttpResponseError, ValueError):
                for key in chunk:
                    client.delete_entity(partition, key)
        return len(set(keys))

    with ThreadPoolExecutor(WORKERS) as pool:
        return sum(pool.map(one, groups.items()))


def _latest_status_rows(tables: TableServiceClient, messages: set[str]) -> int:
    """Delete a message's latest-status row once no record of it is indexed any more."""
    table = tables.get_table_client(TABLE_BY_MESSAGE)

    def one(partition: str) -> int:
        quoted = partition.replace("'", "''")
        keys = {e["RowKey"] for e in table.query_entities(
            f"PartitionKey eq '{quoted}'", select=["RowKey"], results_per_page=2)}
        if keys == {LATEST_STATUS_ROW}:
            table.delete_entity(partition, LATEST_STATUS_ROW)
            return 1
        return 0

    with ThreadPoolExecutor(WORKERS) as pool:
        return sum(pool.map(one, sorted(messages)))


def execute_plan(blobs: BlobServiceClient, tables: TableServiceClient, plan: Plan,
                 matters: Sequence[Matter], *, delete: Deleter = delete_version,
                 after_delete: AfterDelete | None = None) -> Execution:
    """Delete what the plan names, records first; returns every outcome."""
    execution = Execution()
    deletes = _Deletes(blobs, delete, after_delete)
    records: list[PlannedBlob] = []
    for blob in plan.blobs:
        if blob.container != RECORDS_CONTAINER:
            continue
        # A matter placed since the plan was made binds now.
        held = matters_covering(blob.facts or {}, matters)
        if held:
            execution.hold(blob, held)
        else:
            records.append(blob)
    _delete_all(deletes, records, execution)
    gone = disposed_records(plan, execution)
    disposed = [b for b in records if b.name in gone]
    execution.index_rows = _delete_rows(tables, (r for b in disposed for r in b.rows))
    execution.latest_status_rows = _latest_status_rows(
        tables, {b.message for b in disposed if b.message})
    others: list[PlannedBlob] = []
    for blob in plan.blobs:
        if blob.container == RECORDS_CONTAINER:
            continue
        if waits_for_kept(blob, gone):
            execution.skip(blob, "record_kept")
        else:
            others.append(blob)
    _delete_all(deletes, others, execution)
    return execution


class Disposals:
    """Certificates, as `verify` needs them: is this missing sealed blob disposed of?

    Nothing is read until a sealed blob turns out missing; then only certificates whose
    day range (blob metadata) includes that blob's day are read, and kept.
    """

    def __init__(self, blobs: BlobServiceClient) -> None:
        self.seals = blobs.get_container_client(SEALS_CONTAINER)
        self._listed: list[tuple[str, str | None, str | None]] | None = None
        self._read: dict[str, Certificate | None] = {}
        self.unreadable: list[str] = []

    def _entries(self) -> list[tuple[str, str | None, str | None]]:
        if self._listed is None:
            self._listed = []
            try:
                listing = self.seals.list_blobs(name_starts_with=CERTIFICATES_PREFIX,
                                                include=["metadata"])
                for blob in listing:
                    meta = blob.metadata or {}
                    self._listed.append((blob.name, meta.get("first_day"),
                                         meta.get("last_day")))
            except HttpResponseError:
                self._listed = []
        return self._listed

    def _certificate(self, name: str) -> Certificate | None:
        if name not in self._read:
            try:
                self._read[name] = parse_certificate(read_blob(self.seals, name))
            except CertificateError:
                self._read[name] = None
                self.unreadable.append(name)
        return self._read[name]

    def covers(self, container: str, name: str, sha256: str) -> bool:
        day = partition_day(name)
        wanted = day.isoformat() if isinstance(day, date) else None
        for cert_name, first, last in self._entries():
            if wanted and first and last and not first <= wanted <= last:
                continue
            certificate = self._certificate(cert_name)
            if certificate is not None and certificate.covers(container, name, sha256):
                return True
        return False
