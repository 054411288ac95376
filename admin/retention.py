"""Retention by hand: what the daily timer does, run (or rehearsed) by an admin.

The period is `ARCHIVE_RETENTION_DAYS` from the environment, else from the data
folder's settings.json (`wa-archive dev`), else the default (2557 days). A real run
is audited intent-first (admin.audit.audited): if the intent entry cannot be written,
nothing is deleted. A dry run reads only, and is audited too: it shows an auditor
who looked at what would go.

In Azure the admin's own identity needs what the retention identity has (delete blob
versions, delete index rows); most admins should let the timer do it.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from admin.audit import audited
from admin.connection import AdminError, Archive, settings_file_values
from archive.names import SETTING_RETENTION_DAYS
from storage.disposal import AfterDelete
from storage.retention import Progress
from storage.retention_run import RetentionReport, run_retention
from storage.settings import DEFAULT_RETENTION_DAYS


def retention_days(data_dir: Path | None = None) -> int:
    raw = os.environ.get(SETTING_RETENTION_DAYS, "").strip()
    if not raw:
        raw = str((settings_file_values(data_dir) or {}).get(SETTING_RETENTION_DAYS, "")).strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise AdminError(f"{SETTING_RETENTION_DAYS} must be a whole number of days") from None
    if days <= 0:
        raise AdminError(f"{SETTING_RETENTION_DAYS} must be greater than zero")
    return days


def _result(report: RetentionReport) -> str:
    totals = report.totals()
    deleted = sum(v for k, v in totals.items()
                  if k not in ("index_rows", "latest_status_rows", "held", "skipped", "bytes"))
    verb = "would delete" if report.dry_run else "deleted"
    return (f"ok: {verb} {deleted} blobs, held {totals.get('held', 0)}, "
            f"skipped {totals.get('skipped', 0)}, cut-off {report.cutoff}")


def run(archive: Archive, *, dry_run: bool, data_dir: Path | None = None,
        now: datetime | None = None, progress: Progress | None = None,
        after_delete: AfterDelete | None = None) -> RetentionReport:
    days = retention_days(data_dir)
    action = "retention_dry_run" if dry_run else "retention_run"
    with audited(archive, action, {"retention_days": days}) as audit:
        report = archive.call("blob", "run retention", lambda: run_retention(
            archive.blobs, archive.tables, retention_days=days, dry_run=dry_run, now=now,
            progress=progress, after_delete=after_delete))
        audit.target["runs"] = [r["run"] for r in report.resumed + report.runs]
        audit.result = _result(report)
    return report
