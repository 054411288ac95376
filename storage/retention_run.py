"""One retention invocation: finish interrupted runs, then plan, delete and certify.

Used by the daily timer (ingest.retention_timer) and `wa-archive retention run`.

1. Every plan in `seals/disposals/pending/` without a certificate (a run that crashed
   or was stopped) is carried out and certified first.
2. Then plans of at most `limit` blobs (storage.retention.Planner), oldest day first:
   each is written, carried out (storage.disposal.execute_plan) and certified before
   the next is made. With a `deadline`, no new plan starts after it; what is left
   stays expired and the next invocation continues. An invocation always writes at
   least one certificate, even when nothing expired: it shows the job ran and what
   it held back.

A dry run plans everything in one plan and writes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

import telemetry
from archive.disposal import disposed_records, summary
from archive.holds import Matter
from archive.retention import Plan, cutoff_day, new_run_id
from storage.blob_versions import delete_version
from storage.disposal import (
    AfterDelete,
    Deleter,
    execute_plan,
    read_plan,
    unfinished_runs,
    write_certificate,
    write_plan,
)
from storage.flags import flag_keys_of_day
from storage.holds import HoldStore
from storage.retention import DEFAULT_LIMIT, Planner, Progress

log = logging.getLogger("wa_archive.retention")
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RetentionReport:
    retention_days: int
    cutoff: str
    dry_run: bool
    resumed: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # stopped at the deadline; the next invocation continues

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for run in self.resumed + self.runs:
            counts = run.get("counts") or {}
            deleted = counts.get("deleted") or run.get("would_delete") or {}
            for container, count in deleted.items():
                totals[container] = totals.get(container, 0) + int(count)
            for key in ("index_rows", "latest_status_rows", "held", "skipped", "bytes"):
                value = counts.get(key, run.get(key) if key == "bytes" else 0)
                totals[key] = totals.get(key, 0) + int(value or 0)
        return totals

    def to_json(self) -> dict[str, Any]:
        return {"retention_days": self.retention_days, "cutoff": self.cutoff,
                "dry_run": self.dry_run, "more": self.more, "totals": self.totals(),
                "resumed": self.resumed, "runs": self.runs}


def in_force_matters(tables: TableServiceClient) -> Callable[[], Sequence[Matter]]:
    return lambda: HoldStore(tables).in_force()


def run_retention(
    blobs: BlobServiceClient,
    tables: TableServiceClient,
    *,
    retention_days: int,
    dry_run: bool = False,
    now: datetime | None = None,
    clock: Clock = _utc_now,
    deadline: datetime | None = None,
    limit: int | None = DEFAULT_LIMIT,
    matters: Callable[[], Sequence[Matter]] | None = None,
    delete: Deleter = delete_version,
    after_delete: AfterDelete | None = None,
    progress: Progress | None = None,
) -> RetentionReport:
    started = (now or clock()).astimezone(UTC)
    load_matters = matters or in_force_matters(tables)
    report = RetentionReport(retention_days, cutoff_day(started, retention_days).isoformat(),
                             dry_run)
    invocation = new_run_id(started, uuid.uuid4().hex[:8])
    if not dry_run:
        for pending in unfinished_runs(blobs):
            interrupted = read_plan(blobs, pending)
            execution = execute_plan(blobs, tables, interrupted, load_matters(),
                                     delete=delete, after_delete=after_delete)
            name, doc = write_certificate(blobs, interrupted, execution, clock(), invocation)
            telemetry.holds("retained", doc["counts"]["held"])
            report.resumed.append({**summary(doc), "certificate": name})
            log.info("retention finished interrupted run %s: %s", pending, doc["counts"])
    planner = Planner(blobs, load_matters(), started, retention_days,
                      limit=None if dry_run else limit, progress=progress,
                      flags_of_day=lambda day: flag_keys_of_day(tables, day))
    run_id = invocation
    while True:
        next_plan = planner.next_plan(run_id)
        if next_plan is None and report.runs:
            break
        # Nothing expired at all: an empty plan, so the certificate shows the run.
        plan = next_plan or Plan(run_id, started, retention_days, planner.cutoff)
        if dry_run:
            report.runs.append(plan.summary())
            break
        write_plan(blobs, plan)  # before the first delete: a crash can be finished
        execution = execute_plan(blobs, tables, plan, load_matters(), delete=delete,
                                 after_delete=after_delete)
        name, doc = write_certificate(blobs, plan, execution, clock(), run_id)
        # Expired blobs a legal hold kept (each run counts the ones it met again).
        telemetry.holds("retained", doc["counts"]["held"])
        planner.gone(disposed_records(plan, execution))
        report.runs.append({**summary(doc), "certificate": name})
        log.info("retention run %s: %s", run_id, doc["counts"])
        if deadline is not None and clock() >= deadline:
            report.more = True
            break
        run_id = new_run_id(clock(), uuid.uuid4().hex[:8])
    return report
