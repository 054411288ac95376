"""One orchestration episode: build the SDK's context, read its actions, decide the new history.

Task ids. The SDK numbers tasks with a sequence counter: one number per
scheduled action, in yield order, plus, for a task with retry, one number for
the timer after each failed attempt and one for each further attempt, taken
when the SDK replays that TaskFailed / TimerFired. The host must hand out the
same numbers. devhost therefore replays at most one retry event per episode and
puts it first, so the retry's number is always taken before any new action's
(see `choose_events`), which is the order the SDK's replay takes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devhost.durable import history as h
from devhost.durable.history import Event, EventType, type_of
from devhost.durable.store import Row

OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:"
UPPER_SCHEMA_VERSION = 1  # ReplaySchema.V2: flat action list with nested WhenAll/WhenAny.

CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
COMPOUND = frozenset({11, 12})
ACTION_NAMES = {
    2: "sub-orchestrations",
    3: "sub-orchestrations with retry",
    6: "external events (wait_for_external_event)",
    7: "entities (call_entity)",
    8: "durable HTTP (call_http)",
    9: "entities (signal_entity)",
}


@dataclass
class Outcome:
    """What one episode decided: rows to append and work to start."""

    rows: list[Row]
    status: str = "Running"
    output_text: str | None = None
    custom_status_text: str | None = None
    continue_input: str | None = None
    continued: bool = False
    activities: list[Event] = field(default_factory=list)
    timers: list[Event] = field(default_factory=list)


def scheduling_rows(rows: Sequence[Row]) -> dict[int, Row]:
    """TaskScheduled and TimerCreated rows by EventId."""
    return {
        int(r.event["EventId"]): r
        for r in rows
        if type_of(r.event) in (EventType.TaskScheduled, EventType.TimerCreated)
    }


def is_retry_event(event: Event, by_id: dict[int, Row]) -> bool:
    key = h.completion_key(event)
    if key is None:
        return False
    kind, target = key
    row = by_id.get(target)
    if row is None or "retry" not in row.meta:
        return False
    return kind == "timer" or type_of(event) is EventType.TaskFailed


def choose_events(pending: Sequence[Event], by_id: dict[int, Row]) -> list[Event]:
    """The inbox events to replay now: a lone retry event, or the run of plain ones before it."""
    if not pending:
        return []
    if is_retry_event(pending[0], by_id):
        return [pending[0]]
    chosen: list[Event] = []
    for event in pending:
        if is_retry_event(event, by_id):
            break
        chosen.append(event)
    return chosen


def context_json(
    instance_id: str, input_text: str | None, old: Sequence[Row], new: Sequence[Event]
) -> str:
    events = [{**r.event, "IsPlayed": True} for r in old] + [{**e, "IsPlayed": False} for e in new]
    return json.dumps(
        {
            "history": events,
            "input": input_text,
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
        }
    )


def parse_result(result: Any) -> tuple[dict[str, Any], str | None]:
    """(state, error): the SDK returns the state JSON, or raises with it after a label."""
    if isinstance(result, BaseException):
        message = str(result)
        if OUT_OF_PROC_LABEL in message:
            error, _, state_text = message.partition(OUT_OF_PROC_LABEL)
            state = json.loads(state_text)
            return state, str(state.get("error") or error)
        return {}, message or type(result).__name__
    return json.loads(result), None


def flatten(actions: Any) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for item in actions or []:
        if isinstance(item, list):
            flat.extend(flatten(item))
        elif int(item.get("actionType", -1)) in COMPOUND:
            flat.extend(flatten(item.get("compoundActions")))
        else:
            flat.append(item)
    return flat


def retry_delay(options: dict[str, Any], attempt: int) -> timedelta:
    """DTFx RetryOptions delay before attempt `attempt + 1`."""
    first = float(options.get("firstRetryIntervalInMilliseconds", 1000))
    coefficient = float(options.get("backoffCoefficient", 1.0) or 1.0)
    delay = first * coefficient ** (attempt - 1)
    cap = float(options.get("maxRetryIntervalInMilliseconds", 0) or 0)
    if cap > 0:
        delay = min(delay, cap)
    return timedelta(milliseconds=delay)


class Planner:
    """Turns one SDK result into new history rows, numbering tasks as the SDK does."""

    def __init__(self, old: Sequence[Row], now: datetime) -> None:
        self.by_id = scheduling_rows(old)
        self.next_id = max(self.by_id, default=-1) + 1
        self.actions_seen = 1 + max(
            (int(r.meta["action"]) for r in old if "action" in r.meta), default=-1
        )
        self.now = now
        self.added: list[Row] = []
        self.outcome = Outcome(rows=[])

    def _take_id(self) -> int:
        taken = self.next_id
        self.next_id += 1
        return taken

    def _schedule(self, name: str, input_text: str | None, meta: dict[str, Any]) -> None:
        event = h.task_scheduled(self._take_id(), name, input_text)
        self.added.append(Row(event, meta))
        self.outcome.activities.append(event)

    def _timer(self, fire_at: datetime, meta: dict[str, Any], armed: bool = True) -> None:
        event = h.timer_created(self._take_id(), fire_at)
        self.added.append(Row(event, meta if armed else {**meta, "canceled": True}))
        if armed:
            self.outcome.timers.append(event)

    def follow_retry(self, event: Event) -> None:
        """The host half of RetryInterceptor for a replayed retry event."""
        key = h.completion_key(event)
        if key is None or not is_retry_event(event, self.by_id):
            return
        retry = dict(self.by_id[key[1]].meta["retry"])
        if key[0] == "task":
            # After every failed attempt, the last included, a timer precedes what follows.
            fire_at = self.now + retry_delay(retry["options"], int(retry["attempt"]))
            self._timer(fire_at, {"retry": retry})
        elif int(retry["attempt"]) < int(retry["options"].get("maxNumberOfAttempts", 1)):
            retry["attempt"] = int(retry["attempt"]) + 1
            self._schedule(retry["name"], retry["input"], {"retry": retry})

    def apply(self, name: str, state: dict[str, Any], error: str | None) -> Outcome:
        custom = state.get("customStatus")
        self.outcome.custom_status_text = None if custom is None else json.dumps(custom)
        if error is not None:
            self.outcome.activities.clear()
            self.outcome.timers.clear()
            self._finish("Failed", f"Orchestrator function '{name}' failed: {error}")
            return self.outcome
        new_actions = flatten(state.get("actions"))[self.actions_seen :]
        for action in new_actions:
            kind = int(action.get("actionType", -1))
            if kind == CONTINUE_AS_NEW:
                self.outcome.continued = True
                self.outcome.continue_input = action.get("input")
                break
            meta: dict[str, Any] = {"action": self.actions_seen}
            self.actions_seen += 1
            if kind == CALL_ACTIVITY:
                self._schedule(str(action["functionName"]), action.get("input"), meta)
            elif kind == CALL_ACTIVITY_WITH_RETRY:
                meta["retry"] = {
                    "name": str(action["functionName"]),
                    "input": action.get("input"),
                    "options": dict(action.get("retryOptions") or {}),
                    "attempt": 1,
                }
                self._schedule(meta["retry"]["name"], meta["retry"]["input"], meta)
            elif kind == CREATE_TIMER:
                armed = not bool(action.get("isCanceled"))
                self._timer(h.parse_iso(str(action["fireAt"])), meta, armed)
            else:
                what = ACTION_NAMES.get(kind, f"action type {kind}")
                self.outcome.activities.clear()
                self.outcome.timers.clear()
                self._finish("Failed", f"{what} are not supported by devhost")
                return self.outcome
        if self.outcome.continued:
            self.added.append(Row(h.continue_as_new(self.outcome.continue_input)))
        elif state.get("isDone"):
            self._finish("Completed", json.dumps(state.get("output")), raw=True)
        return self.outcome

    def _finish(self, status: str, output: str, raw: bool = False) -> None:
        self.outcome.status = status
        self.outcome.output_text = output if raw else json.dumps(output)
        self.added.append(Row(h.execution_completed(status, output)))


def execution_ending(rows: Sequence[Row]) -> tuple[str, str | None, str | None] | None:
    """(status, output text, continue-as-new input) if this execution's history has ended it;
    used after a crash that hit between the history write and the instance-row update."""
    for row in rows:
        event, kind = row.event, type_of(row.event)
        if kind is EventType.ContinueAsNew:
            return "ContinuedAsNew", None, event.get("Result")
        if kind is EventType.ExecutionTerminated:
            return "Terminated", json.dumps(event.get("Input")), None
        if kind is EventType.ExecutionCompleted:
            status, result = str(event["OrchestrationStatus"]), event.get("Result")
            return status, result if status == "Completed" else json.dumps(result), None
    return None


def plan_episode(
    name: str,
    old: Sequence[Row],
    new_events: Sequence[Event],
    result: Any,
    now: datetime,
) -> Outcome:
    """Everything appended for this episode: the replayed events, host events, completion."""
    planner = Planner(old, now)
    for event in new_events:
        planner.follow_retry(event)
    state, error = parse_result(result)
    outcome = planner.apply(name, state, error)
    outcome.rows = [Row(e) for e in new_events] + planner.added + [Row(h.orchestrator_completed())]
    return outcome
