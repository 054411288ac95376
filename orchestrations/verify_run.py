"""Daily automatic verification: a timer starts one orchestration per day.

`verify_timer` (VERIFY_SCHEDULE; Bicep: 03:30 UTC, after the 01:30 seal) starts
`verify_archive_run` as instance `verify-<day>`. The orchestrator runs, one activity
each: the chain (every seal, signatures, chain rules), every sealed day of the last
RESCAN_DAYS + 1 days in full (integrity and completeness), a random sample of blobs
across all older days, then the report. Activities write their own part and failures
rows (storage.verification_run) and return counts, so no blob name enters Durable
history. Inputs are the run day only.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import azure.durable_functions as df  # type: ignore[import-untyped,unused-ignore]
import azure.functions as func

from archive.names import SETTING_VERIFY_SCHEDULE
from archive.seal import RESCAN_DAYS
from orchestrations.seal_day import RESTARTABLE
from storage import verification_run as runs
from storage.clients import blob_service, table_service
from storage.signing import signer_from_setting

# Each name is also its function's def name: Durable calls activities by function name.
VERIFY_ORCHESTRATOR = "verify_archive_run"
VERIFY_CHAIN = "verify_chain"
VERIFY_DAY = "verify_sealed_day"
VERIFY_OLDER = "verify_older_sample"
VERIFY_REPORT = "write_verification_report"
VERIFY_SCHEDULE = f"%{SETTING_VERIFY_SCHEDULE}%"
DEFAULT_VERIFY_SCHEDULE = "0 30 3 * * *"
_RETRY = {"first_retry_ms": 30000, "max_attempts": 4}

bp = df.Blueprint()


def recent_days(run_day: date, sealed_days: list[str]) -> list[str]:
    """Sealed days checked in full: the RESCAN_DAYS + 1 days before the run day."""
    first = (run_day - timedelta(days=RESCAN_DAYS + 1)).isoformat()
    return [day for day in sealed_days if first <= day < run_day.isoformat()]


def verify_steps(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    run_day = str(context.get_input()["day"])
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=_RETRY["first_retry_ms"],
                            max_number_of_attempts=_RETRY["max_attempts"])
    chain = yield context.call_activity_with_retry(VERIFY_CHAIN, retry, {"run_day": run_day})
    parts: list[dict[str, Any]] = [chain]
    days = recent_days(date.fromisoformat(run_day), list(chain.get("sealed_days") or []))
    for day in days:
        parts.append((yield context.call_activity_with_retry(
            VERIFY_DAY, retry, {"run_day": run_day, "day": day})))
    before = days[0] if days else run_day
    parts.append((yield context.call_activity_with_retry(
        VERIFY_OLDER, retry, {"run_day": run_day, "before": before})))
    summary = yield context.call_activity_with_retry(
        VERIFY_REPORT, retry, {"run_day": run_day, "parts": parts})
    return dict(summary)


@bp.orchestration_trigger(context_name="context", orchestration=VERIFY_ORCHESTRATOR)  # type: ignore[untyped-decorator]
def verify_archive_run(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    return (yield from verify_steps(context))


def _now() -> datetime:
    return datetime.now(UTC)


@bp.activity_trigger(input_name="payload", activity=VERIFY_CHAIN)  # type: ignore[untyped-decorator]
def verify_chain(payload: dict[str, Any]) -> dict[str, Any]:
    return runs.verify_chain_part(blob_service(), table_service(), signer_from_setting,
                             date.fromisoformat(payload["run_day"]), _now())


@bp.activity_trigger(input_name="payload", activity=VERIFY_DAY)  # type: ignore[untyped-decorator]
def verify_sealed_day(payload: dict[str, Any]) -> dict[str, Any]:
    return runs.verify_day_part(blob_service(), table_service(), signer_from_setting,
                                date.fromisoformat(payload["run_day"]),
                                date.fromisoformat(payload["day"]), _now())


@bp.activity_trigger(input_name="payload", activity=VERIFY_OLDER)  # type: ignore[untyped-decorator]
def verify_older_sample(payload: dict[str, Any]) -> dict[str, Any]:
    return runs.verify_older_sample(blob_service(), table_service(), signer_from_setting,
                                    date.fromisoformat(payload["run_day"]),
                                    date.fromisoformat(payload["before"]), _now())


@bp.activity_trigger(input_name="payload", activity=VERIFY_REPORT)  # type: ignore[untyped-decorator]
def write_verification_report(payload: dict[str, Any]) -> dict[str, Any]:
    return runs.write_report(blob_service(), date.fromisoformat(payload["run_day"]),
                        list(payload["parts"]), _now())


@bp.timer_trigger(schedule=VERIFY_SCHEDULE, arg_name="timer", run_on_startup=False)  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def verify_timer(timer: func.TimerRequest, client: Any) -> None:
    today = datetime.now(UTC).date()
    instance_id = runs.run_id(today)
    status = await client.get_status(instance_id)
    runtime = getattr(status, "runtime_status", None) if status else None
    current = getattr(runtime, "value", None) or (str(runtime) if runtime else None)
    if current is not None and current not in RESTARTABLE:
        return  # verified, or verifying, already today
    await client.start_new(VERIFY_ORCHESTRATOR, instance_id, {"day": today.isoformat()})
