"""The daily retention timer: dispose of expired records, honouring legal holds.

`retention` (RETENTION_SCHEDULE; Bicep: 04:30 UTC, after sealing and verification)
runs storage.retention_run under the retention identity (storage.clients
`retention_blob_service` / `retention_table_service`: in Azure the only identity that
may delete blob versions). It first finishes any run a crash interrupted, then works
in plans of at most 10,000 blobs, each written before its deletes and certified after.

A Functions invocation has a time limit (Flex Consumption: 30 minutes by default), so
no new plan starts after TIME_BUDGET; whatever is left stays expired, and the next
firing continues from the oldest day. A run killed mid-plan is finished by the next one.
Only counts are logged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import azure.functions as func

from archive.names import SETTING_RETENTION_SCHEDULE
from storage import settings
from storage.clients import retention_blob_service, retention_table_service
from storage.retention_run import run_retention

log = logging.getLogger("wa_archive.retention")
bp = func.Blueprint()  # type: ignore[no-untyped-call]

# An app setting, so test stacks never fire it on their own (tests: once a year).
RETENTION_SCHEDULE = f"%{SETTING_RETENTION_SCHEDULE}%"
DEFAULT_RETENTION_SCHEDULE = "0 30 4 * * *"
# Leaves a plan in flight (<= 10,000 blobs) time to finish inside a 30-minute limit.
TIME_BUDGET = timedelta(minutes=15)


@bp.timer_trigger(schedule=RETENTION_SCHEDULE, arg_name="timer", run_on_startup=False)
def retention(timer: func.TimerRequest) -> None:
    started = datetime.now(UTC)
    report = run_retention(
        retention_blob_service(), retention_table_service(),
        retention_days=settings.retention_days(), now=started,
        deadline=started + TIME_BUDGET,
    )
    log.info("retention cutoff=%s runs=%d resumed=%d totals=%s more=%s", report.cutoff,
             len(report.runs), len(report.resumed), report.totals(), report.more)
