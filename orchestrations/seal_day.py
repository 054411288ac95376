"""Daily seals: a timer starts one orchestration that seals the day before.

`seal_timer` (SEAL_SCHEDULE, 01:30 UTC in Azure) starts `seal_days` with the day to
seal, under the instance id `seal-<day>`, so a second firing the same day finds the
instance and starts nothing. The orchestrator seals the last RESCAN_DAYS days before
it and then the day itself, oldest first, one `seal_partition` activity each: a day
without a primary seal gets one, a day with new blobs (late statuses, replays,
refetched media) gets a supplementary seal. The chain order is therefore the
orchestration's order; the activity itself is safe against a parallel
`wa-archive seal` (see storage.sealing).

Inputs and outputs are days and counts only; the activities list and write.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import azure.durable_functions as df  # type: ignore[import-untyped,unused-ignore]
import azure.functions as func

from archive.names import SETTING_SEAL_SCHEDULE
from archive.seal import RESCAN_DAYS
from storage.clients import blob_service
from storage.sealing import seal_day
from storage.signing import signer_from_setting

SEAL_ORCHESTRATOR = "seal_days"
SEAL_ACTIVITY = "seal_partition"
SEAL_SCHEDULE = f"%{SETTING_SEAL_SCHEDULE}%"
DEFAULT_SEAL_SCHEDULE = "0 30 1 * * *"
# Listing a busy day takes a while; a transient storage error must not leave a day out.
SEAL_RETRY = {"first_retry_ms": 30000, "max_attempts": 5}
RESTARTABLE = frozenset({"Failed", "Terminated", "Canceled"})

bp = df.Blueprint()


def seal_instance_id(day: date) -> str:
    return f"seal-{day.isoformat()}"


def days_to_seal(day: date) -> list[str]:
    return [(day - timedelta(days=back)).isoformat() for back in range(RESCAN_DAYS, -1, -1)]


def seal_steps(context: Any) -> Generator[Any, Any, list[dict[str, Any]]]:
    data: dict[str, Any] = context.get_input()
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=SEAL_RETRY["first_retry_ms"],
                            max_number_of_attempts=SEAL_RETRY["max_attempts"])
    outcomes: list[dict[str, Any]] = []
    for day in days_to_seal(date.fromisoformat(str(data["day"]))):
        outcome = yield context.call_activity_with_retry(SEAL_ACTIVITY, retry, {"day": day})
        outcomes.append(dict(outcome))
    return outcomes


@bp.orchestration_trigger(context_name="context", orchestration=SEAL_ORCHESTRATOR)  # type: ignore[untyped-decorator]
def seal_days(context: Any) -> Generator[Any, Any, list[dict[str, Any]]]:
    return (yield from seal_steps(context))


@bp.activity_trigger(input_name="payload", activity=SEAL_ACTIVITY)  # type: ignore[untyped-decorator]
def seal_partition(payload: dict[str, Any]) -> dict[str, Any]:
    day = date.fromisoformat(str(payload["day"]))
    return seal_day(blob_service(), signer_from_setting(), day).to_dict()


@bp.timer_trigger(schedule=SEAL_SCHEDULE, arg_name="timer", run_on_startup=False)  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def seal_timer(timer: func.TimerRequest, client: Any) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    instance_id = seal_instance_id(yesterday)
    status = await client.get_status(instance_id)
    runtime = getattr(status, "runtime_status", None) if status else None
    current = getattr(runtime, "value", None) or (str(runtime) if runtime else None)
    if current is not None and current not in RESTARTABLE:
        return  # sealed, or sealing, already today
    await client.start_new(SEAL_ORCHESTRATOR, instance_id, {"day": yesterday.isoformat()})
