"""One orchestration per canonical event: media fetches (with retries), then the record.

Cost: a text event is ONE activity (store_record). An event with N media items is
N fetch_media activities (each with RetryOptions; every attempt re-derives the event
from its verified raw body and re-resolves the expiring URL from the media id) plus
one store_record. When a media item's
retries are exhausted the record still gets written, with that item marked
"unavailable" and a reason, and a failures-table row, so the gap is visible and
can be replayed.

The orchestrator is deterministic: no I/O, clock or randomness. Its input holds ids,
the raw pointer and the media list only, never message content: store_record
re-derives the event from the verified raw body. When store_record gives up, a
note_record_failure activity writes a `record_failed` row (or quarantines a
custody failure) before the instance fails.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict
from typing import Any

import azure.durable_functions as df  # type: ignore[import-untyped,unused-ignore]

from archive.record import MediaOutcome
from orchestrations import steps

ORCHESTRATOR = "archive_event"
STORE_RECORD = "store_record"
FETCH_MEDIA = "fetch_media"
NOTE_RECORD_FAILURE = "note_record_failure"
DEFAULT_FIRST_RETRY_MS = 2000
DEFAULT_MEDIA_ATTEMPTS = 4
# store_record is idempotent (create-only record, same fingerprint = duplicate, index
# upserts), so a transient storage failure is retried rather than failing the
# orchestration. The Python SDK's RetryOptions has no backoff coefficient (the
# interval is fixed), so 6 retries 5 s apart ride out an outage of about 30 s.
STORE_RETRY = {"first_retry_ms": 5000, "max_attempts": 7}
_MAX_REASON_CHARS = 300

bp = df.Blueprint()


def media_retry(policy: dict[str, Any] | None) -> df.RetryOptions:
    policy = policy or {}
    return df.RetryOptions(
        first_retry_interval_in_milliseconds=int(
            policy.get("first_retry_ms", DEFAULT_FIRST_RETRY_MS)
        ),
        max_number_of_attempts=int(policy.get("max_attempts", DEFAULT_MEDIA_ATTEMPTS)),
    )


def failure_reason(error: BaseException) -> str:
    """The activity's own message (first line); Durable appends details after it."""
    text = str(error).strip().splitlines()
    reason = text[0].strip() if text else ""
    return (reason or type(error).__name__)[:_MAX_REASON_CHARS]


def unavailable(media: dict[str, Any], error: BaseException) -> dict[str, Any]:
    outcome = MediaOutcome(
        media_id=str(media["media_id"]),
        state="unavailable",
        blob_path=None,
        sha256=None,
        size=None,
        mime_type=media.get("mime_type"),
        reason=failure_reason(error),
    )
    return asdict(outcome)


def fetch_input(data: dict[str, Any], index: int) -> dict[str, Any]:
    """fetch_media's input: the raw pointer and event_ref (the activity re-derives the
    full event from the verified raw body; a provider's fetcher may need its details),
    plus the content-free skeleton for hosts still running the previous activity."""
    return {
        "raw": data.get("raw"),
        "event_ref": data.get("event_ref"),
        "event": data.get("event") or {},
        "media_index": index,
    }


def archive_event_steps(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    data: dict[str, Any] = context.get_input()
    event = data.get("event") or {}
    retry = media_retry(data.get("media_retry"))
    outcomes: list[dict[str, Any]] = []
    for index, media in enumerate(event.get("media") or ()):
        try:
            outcome = yield context.call_activity_with_retry(
                FETCH_MEDIA, retry, fetch_input(data, index)
            )
        except Exception as error:  # retries exhausted: record the gap, do not fail
            outcome = unavailable(media, error)
        outcomes.append(outcome)
    # Pointers only: store_record re-derives the event from the verified raw body.
    record_input = {"raw": data.get("raw"), "event_ref": data.get("event_ref"), "media": outcomes}
    try:
        stored = yield context.call_activity_with_retry(
            STORE_RECORD, media_retry(STORE_RETRY), record_input
        )
    except Exception as error:
        # Retries exhausted (or custody refused the input): leave a row that says so
        # before failing, so no event is lost silently behind a Failed instance.
        yield context.call_activity(
            NOTE_RECORD_FAILURE,
            {"instance_id": context.instance_id, "reason": failure_reason(error),
             "input": {"raw": data.get("raw"), "event_ref": data.get("event_ref")}},
        )
        raise
    return {"record": stored, "media": [m["state"] for m in outcomes]}


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)  # type: ignore[untyped-decorator]
def archive_event(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    return (yield from archive_event_steps(context))


# Function names equal activity names: hosts dispatch activities by function name.
@bp.activity_trigger(input_name="payload", activity=STORE_RECORD)  # type: ignore[untyped-decorator]
def store_record(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.store_record(payload)


@bp.activity_trigger(input_name="payload", activity=FETCH_MEDIA)  # type: ignore[untyped-decorator]
def fetch_media(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.fetch_media_item(payload)


@bp.activity_trigger(input_name="payload", activity=NOTE_RECORD_FAILURE)  # type: ignore[untyped-decorator]
def note_record_failure(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.note_record_failure(payload)
