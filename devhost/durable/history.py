"""DTFx-shaped history events, as the Python SDK's replay reads them.

The SDK matches completions to tasks by `TaskScheduledId` (the EventId of the
TaskScheduled event) and `TimerId` (the EventId of the TimerCreated event), and
takes `current_utc_datetime` from OrchestratorStarted timestamps. EventIds of
scheduling events are the orchestration's task sequence numbers; every other
event carries EventId -1, as in DTFx.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]


class EventType(IntEnum):
    """DTFx EventType numbers (same values as the SDK's HistoryEventType)."""

    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    ContinueAsNew = 16


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The round-trip UTC form DTFx serializes (7 fractional digits are not needed by the SDK)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    cleaned = text.replace("Z", "+00:00")
    # Python's parser accepts at most 6 fractional digits; .NET writes 7.
    if "." in cleaned:
        head, rest = cleaned.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        tail = rest[len(digits) :]
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event(kind: EventType, event_id: int = -1, *, at: datetime | None = None) -> Event:
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": iso(at or utc_now()),
    }


def orchestrator_started(at: datetime) -> Event:
    return _event(EventType.OrchestratorStarted, at=at)


def orchestrator_completed() -> Event:
    return _event(EventType.OrchestratorCompleted)


def execution_started(
    name: str, input_text: str | None, instance_id: str, execution_id: str
) -> Event:
    event = _event(EventType.ExecutionStarted)
    event.update(
        Name=name,
        Version="",
        Input=input_text,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
    )
    return event


def execution_completed(status: str, result: str | None) -> Event:
    event = _event(EventType.ExecutionCompleted)
    event.update(OrchestrationStatus=status, Result=result)
    return event


def execution_terminated(reason: str) -> Event:
    event = _event(EventType.ExecutionTerminated)
    event["Input"] = reason
    return event


def continue_as_new(new_input: str | None) -> Event:
    event = _event(EventType.ContinueAsNew)
    event["Result"] = new_input
    return event


def task_scheduled(event_id: int, name: str, input_text: str | None) -> Event:
    event = _event(EventType.TaskScheduled, event_id)
    event.update(Name=name, Version="", Input=input_text)
    return event


def task_completed(scheduled_id: int, result: str | None) -> Event:
    event = _event(EventType.TaskCompleted)
    event.update(TaskScheduledId=scheduled_id, Result=result)
    return event


def task_failed(scheduled_id: int, reason: str, details: str) -> Event:
    event = _event(EventType.TaskFailed)
    event.update(TaskScheduledId=scheduled_id, Reason=reason, Details=details)
    return event


def timer_created(event_id: int, fire_at: datetime) -> Event:
    event = _event(EventType.TimerCreated, event_id)
    event["FireAt"] = iso(fire_at)
    return event


def timer_fired(timer_id: int, fire_at: str) -> Event:
    event = _event(EventType.TimerFired)
    event.update(TimerId=timer_id, FireAt=fire_at)
    return event


def type_of(event: Event) -> EventType:
    return EventType(int(event["EventType"]))


def completion_key(event: Event) -> tuple[str, int] | None:
    """Which scheduled task or timer an event resolves, so duplicates can be recognised."""
    kind = type_of(event)
    if kind in (EventType.TaskCompleted, EventType.TaskFailed):
        return ("task", int(event["TaskScheduledId"]))
    if kind is EventType.TimerFired:
        return ("timer", int(event["TimerId"]))
    return None


def named(event: Event) -> Event:
    """The event as the HTTP status API shows it: EventType by name."""
    shown = dict(event)
    shown["EventType"] = type_of(event).name
    return shown
