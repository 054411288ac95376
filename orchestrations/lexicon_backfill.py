"""Lexicon backfill: flag already-archived records with one stored policy version.

`wa-archive lexicon backfill --version N --from D1 --to D2` starts `lexicon_backfill`
(instance `lexicon-backfill-vN-D1-D2`, so starting it twice runs one job) with
``{version, from_day, to_day}`` (names and input: storage.flags). The orchestrator
walks the provider days in order; for each it calls `lexicon_backfill_page` until the
day's listing ends. An activity handles up to 500 names (storage.flags.backfill_page)
and returns counts plus the listing's continuation marker, so a busy day is many short
activities rather than one long one.

After every activity the custom status shows progress: ``{version, days_total,
days_done, day, records_read, flagged}``. Every DAYS_PER_EXECUTION days (or
PAGES_PER_EXECUTION pages) the orchestrator continues as new with its position and
counts as input, so the history replayed on each step stays short on a long range.

The flags are idempotent (deterministic row keys, create-if-absent), so a re-run or an
overlap with the live pipeline never writes a second row. Inputs and outputs are
numbers, days and the storage listing's opaque marker; never record content.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import azure.durable_functions as df  # type: ignore[import-untyped,unused-ignore]

from storage.clients import blob_service, table_service
from storage.flags import BACKFILL_ACTIVITY, BACKFILL_ORCHESTRATOR, backfill_page

DAYS_PER_EXECUTION = 5
PAGES_PER_EXECUTION = 40
_RETRY = {"first_retry_ms": 10000, "max_attempts": 5}

bp = df.Blueprint()


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def backfill_steps(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    data: dict[str, Any] = context.get_input()
    version, last = int(data["version"]), str(data["to_day"])
    first = date.fromisoformat(str(data["from_day"]))
    day = str(data.get("day") or first.isoformat())
    marker: str | None = data.get("marker")
    progress: dict[str, Any] = dict(data.get("progress") or {
        "version": version,
        "days_total": (date.fromisoformat(last) - first).days + 1,
        "days_done": 0, "day": day, "records_read": 0, "flagged": 0,
    })
    context.set_custom_status(progress)
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=_RETRY["first_retry_ms"],
                            max_number_of_attempts=_RETRY["max_attempts"])
    days = pages = 0
    while day <= last:
        page = yield context.call_activity_with_retry(
            BACKFILL_ACTIVITY, retry, {"version": version, "day": day, "marker": marker})
        pages += 1
        progress["day"] = day
        progress["records_read"] += int(page["read"])
        progress["flagged"] += int(page["flagged"])
        marker = page.get("next_marker") or None
        if marker is None:
            progress["days_done"] += 1
            day, days = _next_day(day), days + 1
        context.set_custom_status(progress)
        if day <= last and (days >= DAYS_PER_EXECUTION or pages >= PAGES_PER_EXECUTION):
            context.continue_as_new({**data, "day": day, "marker": marker,
                                     "progress": progress})
            return progress
    progress["done"] = True
    context.set_custom_status(progress)
    return progress


@bp.orchestration_trigger(context_name="context", orchestration=BACKFILL_ORCHESTRATOR)  # type: ignore[untyped-decorator]
def lexicon_backfill(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    return (yield from backfill_steps(context))


@bp.activity_trigger(input_name="payload", activity=BACKFILL_ACTIVITY)  # type: ignore[untyped-decorator]
def lexicon_backfill_page(payload: dict[str, Any]) -> dict[str, Any]:
    page = backfill_page(blob_service(), table_service(), version=int(payload["version"]),
                         day=date.fromisoformat(str(payload["day"])),
                         marker=payload.get("marker") or None, now=datetime.now(UTC))
    return page.to_dict()
