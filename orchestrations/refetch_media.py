"""`refetch_media`: fetch one missing media item again and record the recovery.

Started by the queue worker for a refetch request (a media-gap replay). It reuses
the fetch_media activity and its RetryOptions (every attempt re-resolves the
expiring URL from the media id). When the retries are exhausted the instance
fails: the gap stays open, the failure is listed with its reason, and the next
replay restarts the same deterministic instance id.

Deterministic: the recovery time is the orchestration's own clock
(current_utc_datetime), so a replayed episode computes the same addendum.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC
from typing import Any

import azure.durable_functions as df  # type: ignore[import-untyped,unused-ignore]

from orchestrations import recovery
from orchestrations.archive_event import FETCH_MEDIA, media_retry

REFETCH_ORCHESTRATOR = "refetch_media"
STORE_RECOVERY = "store_media_recovery"

bp = df.Blueprint()


def refetch_steps(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    data: dict[str, Any] = context.get_input()
    now = context.current_utc_datetime
    recovered_at = (now if now.tzinfo else now.replace(tzinfo=UTC)).isoformat()
    media = yield context.call_activity_with_retry(
        FETCH_MEDIA,
        media_retry(data.get("media_retry")),
        {"event": data["event"], "media_index": data["media_index"],
         "raw": data.get("raw"), "event_ref": data.get("event_ref")},
    )
    stored = yield context.call_activity(
        STORE_RECOVERY,
        {
            "request": data["request"],
            "record": data["record"],
            "message_id": data["message_id"],
            "media": media,
            "recovered_at": recovered_at,
        },
    )
    return dict(stored)


@bp.orchestration_trigger(context_name="context", orchestration=REFETCH_ORCHESTRATOR)  # type: ignore[untyped-decorator]
def refetch_media(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    return (yield from refetch_steps(context))


@bp.activity_trigger(input_name="payload", activity=STORE_RECOVERY)  # type: ignore[untyped-decorator]
def store_media_recovery(payload: dict[str, Any]) -> dict[str, Any]:
    return recovery.store_media_recovery(payload)
