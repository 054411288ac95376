"""Timers that keep the archive whole: drain poison to `deadletter`, reconcile raw -> records.

- poison_drain, every 5 minutes: `ingest-poison` messages expire after 7 days (the
  host copies them with the default time-to-live); each is copied create-only to
  `deadletter` with a failures row before it is deleted. Replay re-enqueues it.
- reconcile_raw, daily at 02:30 UTC: every raw body received the day before must
  have its records or failures rows saying why not; anything else becomes a
  `reconcile_missing` row, visible in `wa-archive failures` and the TUI.
- pipeline_gauges, every minute: the depth and oldest-message age of `ingest` and
  `ingest-poison`, and any app setting still holding an unresolved Key Vault reference
  (metrics only, see docs/observability.md; two to four storage reads a minute, none
  when no metrics exporter is configured).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func

import telemetry
from archive.names import (
    DEADLETTER_CONTAINER,
    INGEST_POISON_QUEUE,
    QUEUES,
    SETTING_POISON_DRAIN_SCHEDULE,
)
from storage.clients import blob_service, queue_client, table_service
from storage.deadletter import drain_poison
from storage.observe import observe_queues, observe_settings
from storage.reconcile import reconcile_day

bp = func.Blueprint()  # type: ignore[no-untyped-call]

# An app setting, so a test stack can keep poison messages where a test expects them;
# deployments set it to every 5 minutes (DEFAULT_POISON_DRAIN_SCHEDULE).
POISON_DRAIN_SCHEDULE = f"%{SETTING_POISON_DRAIN_SCHEDULE}%"
DEFAULT_POISON_DRAIN_SCHEDULE = "0 */5 * * * *"
RECONCILE_SCHEDULE = "0 30 2 * * *"
GAUGES_SCHEDULE = "0 * * * * *"


@bp.timer_trigger(
    schedule=POISON_DRAIN_SCHEDULE, arg_name="timer", run_on_startup=False
)
def poison_drain(timer: func.TimerRequest) -> None:
    drain_poison(
        queue_client(INGEST_POISON_QUEUE),
        blob_service().get_container_client(DEADLETTER_CONTAINER),
        table_service(),
    )


@bp.timer_trigger(
    schedule=RECONCILE_SCHEDULE, arg_name="timer", run_on_startup=False
)
def reconcile_raw(timer: func.TimerRequest) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    reconcile_day(blob_service(), table_service(), yesterday)


@bp.timer_trigger(
    schedule=GAUGES_SCHEDULE, arg_name="timer", run_on_startup=False
)
def pipeline_gauges(timer: func.TimerRequest) -> None:
    if not telemetry.enabled():
        return  # no exporter (a test stack): no storage reads for metrics nobody reads
    observe_settings()
    observe_queues(queue_client(name) for name in QUEUES)
