"""The archive_event orchestrator driven through the SDK's own replay (TaskOrchestrationExecutor).

Histories are built by hand in the DTFx shape the host sends: OrchestratorStarted,
ExecutionStarted, TaskScheduled/TaskCompleted/TaskFailed matched by TaskScheduledId,
and for retries a TimerCreated/TimerFired pair (matched by TimerId) after every
failed attempt, the last one included. Task ids are the SDK's sequence numbers:
attempt, timer, attempt, timer, ... then store_record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrations import archive_event as module

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RAW = {"path": "year=2026/month=11/day=26/" + "a" * 64 + ".json", "sha256": "a" * 64}


def _event(media: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "provider": "meta", "event": "message", "direction": "inbound",
        "message_id": "wamid.HBgL/+x==", "sender": "15551234567", "recipient": "15550783881",
        "business_id": "106540352242922", "customer_id": "15551234567",
        "timestamp": "2026-11-26T11:59:00Z", "type": "image" if media else "text",
        "content": {"text": "hi"}, "status": None, "media": media or [], "fragment": {},
    }


IMAGE = {"media_id": "m-1", "mime_type": "image/jpeg", "provider_sha256": None,
         "filename": None, "kind": "image"}
STORED = {"media_id": "m-1", "state": "stored", "blob_path": "p/m-1.jpg", "sha256": "b" * 64,
          "size": 3, "mime_type": "image/jpeg", "reason": None}


def _orchestrator() -> Any:
    app = df.DFApp()
    app.register_functions(module.bp)
    fn = next(f for f in app.get_functions() if f.get_function_name() == module.ORCHESTRATOR)
    return fn.get_user_function()


class History:
    """Builds DTFx-shaped history events; every episode starts with OrchestratorStarted."""

    def __init__(self, orchestration_input: dict[str, Any]) -> None:
        self.input = json.dumps(orchestration_input)
        self.clock = T0
        self.events: list[dict[str, Any]] = []
        self._add(12)
        self._add(0, Input=self.input, Name=module.ORCHESTRATOR, Version="")

    def _add(self, event_type: int, event_id: int = -1, **fields: Any) -> None:
        self.clock += timedelta(seconds=1)
        self.events.append({"EventType": event_type, "EventId": event_id, "IsPlayed": False,
                            "Timestamp": self.clock.isoformat(), **fields})

    def new_episode(self) -> None:
        self._add(13)
        self._add(12)

    def scheduled(self, task_id: int, name: str) -> None:
        self._add(4, task_id, Name=name)

    def completed(self, task_id: int, result: Any) -> None:
        self._add(5, TaskScheduledId=task_id, Result=json.dumps(result))

    def failed(self, task_id: int, reason: str) -> None:
        self._add(6, TaskScheduledId=task_id, Reason=reason, Details="Traceback ...")

    def timer(self, timer_id: int) -> None:
        """A retry delay: TimerCreated in this episode, TimerFired in the next."""
        fire_at = (self.clock + timedelta(seconds=2)).isoformat()
        self._add(10, timer_id, FireAt=fire_at)
        self.new_episode()
        self._add(11, TimerId=timer_id, FireAt=fire_at)

    def run(self) -> dict[str, Any]:
        context = {"history": self.events, "input": self.input, "instanceId": "meta-message-x",
                   "isReplaying": False, "parentInstanceId": None, "upperSchemaVersion": 0}
        state: dict[str, Any] = json.loads(_orchestrator()(json.dumps(context)))
        return state


def _last_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    return state["actions"][-1] if state["actions"] else []


REF = {"source": "meta", "index": 0, "instance_id": "meta-message-x"}


def _input(media: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"event": _event(media), "raw": RAW, "received_at": "2026-11-26T12:00:00+00:00",
            "event_ref": REF, "media_retry": {"first_retry_ms": 1000, "max_attempts": 3}}


def test_text_event_costs_exactly_one_activity() -> None:
    history = History(_input())
    first = history.run()
    assert first["isDone"] is False
    actions = [a for group in first["actions"] for a in group]
    assert [a["functionName"] for a in actions] == [module.STORE_RECORD]
    payload = actions[0]["input"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["media"] == [] and payload["raw"] == RAW
    # Pointers only: store_record re-derives the event from the verified raw body.
    assert payload["event_ref"] == REF
    assert "event" not in payload and "hi" not in json.dumps(payload)

    history.scheduled(0, module.STORE_RECORD)
    history.new_episode()
    history.completed(0, {"state": "stored", "path": "r.json", "index_rows": 4})
    done = history.run()
    assert done["isDone"] is True
    assert done["output"] == {"record": {"state": "stored", "path": "r.json", "index_rows": 4},
                              "media": []}


def test_media_success_then_record_with_stored_media() -> None:
    history = History(_input([IMAGE]))
    first = history.run()
    fetch = _last_actions(first)[0]
    assert fetch["functionName"] == module.FETCH_MEDIA
    assert fetch["retryOptions"]["maxNumberOfAttempts"] == 3
    assert fetch["retryOptions"]["firstRetryIntervalInMilliseconds"] == 1000

    history.scheduled(0, module.FETCH_MEDIA)
    history.new_episode()
    history.completed(0, STORED)
    second = history.run()
    store = _last_actions(second)[0]
    assert store["functionName"] == module.STORE_RECORD
    store_input = store["input"] if isinstance(store["input"], dict) else json.loads(store["input"])
    assert store_input["media"] == [STORED]

    history.scheduled(1, module.STORE_RECORD)
    history.new_episode()
    history.completed(1, {"state": "stored", "path": "r.json", "index_rows": 4})
    done = history.run()
    assert done["isDone"] is True
    assert done["output"]["media"] == ["stored"]


def test_media_retry_then_success() -> None:
    history = History(_input([IMAGE]))
    history.scheduled(0, module.FETCH_MEDIA)
    history.new_episode()
    history.failed(0, "media lookup failed: HTTP 404")
    history.timer(1)
    history.scheduled(2, module.FETCH_MEDIA)
    history.new_episode()
    history.completed(2, STORED)
    state = history.run()
    assert state["isDone"] is False
    store = _last_actions(state)[0]
    assert store["functionName"] == module.STORE_RECORD
    store_input = store["input"] if isinstance(store["input"], dict) else json.loads(store["input"])
    assert store_input["media"][0]["state"] == "stored"

    history.scheduled(3, module.STORE_RECORD)
    history.new_episode()
    history.completed(3, {"state": "stored", "path": "r.json", "index_rows": 4})
    assert history.run()["output"]["media"] == ["stored"]


def test_media_retry_exhaustion_records_unavailable_with_reason() -> None:
    history = History(_input([IMAGE]))
    history.scheduled(0, module.FETCH_MEDIA)
    task_id = 0
    for attempt in range(3):
        history.new_episode()
        history.failed(task_id, "media lookup failed: HTTP 404")
        history.timer(task_id + 1)
        if attempt < 2:
            task_id += 2
            history.scheduled(task_id, module.FETCH_MEDIA)
    state = history.run()
    assert state["isDone"] is False
    assert state.get("error") is None
    store = _last_actions(state)[0]
    assert store["functionName"] == module.STORE_RECORD
    store_input = store["input"] if isinstance(store["input"], dict) else json.loads(store["input"])
    (media,) = store_input["media"]
    assert media["state"] == "unavailable"
    assert media["reason"] == "media lookup failed: HTTP 404"
    assert media["media_id"] == "m-1" and media["blob_path"] is None

    history.scheduled(6, module.STORE_RECORD)
    history.new_episode()
    history.completed(6, {"state": "stored", "path": "r.json", "index_rows": 4})
    done = history.run()
    assert done["isDone"] is True
    assert done["output"]["media"] == ["unavailable"]


def test_store_record_giving_up_leaves_a_failure_row_before_the_instance_fails() -> None:
    history = History(_input())
    history.scheduled(0, module.STORE_RECORD)
    task_id = 0
    attempts = module.STORE_RETRY["max_attempts"]
    for attempt in range(attempts):
        history.new_episode()
        history.failed(task_id, "custody: raw body's stored signature does not verify")
        history.timer(task_id + 1)
        if attempt < attempts - 1:
            task_id += 2
            history.scheduled(task_id, module.STORE_RECORD)
    state = history.run()
    assert state["isDone"] is False
    (note,) = _last_actions(state)
    assert note["functionName"] == module.NOTE_RECORD_FAILURE
    note_input = note["input"] if isinstance(note["input"], dict) else json.loads(note["input"])
    assert note_input["reason"].startswith("custody:")
    assert note_input["instance_id"] == "meta-message-x"
    assert note_input["input"] == {"raw": RAW, "event_ref": REF}

    history.scheduled(task_id + 2, module.NOTE_RECORD_FAILURE)
    history.new_episode()
    history.completed(task_id + 2, {"kind": "quarantined", "path": "q.bin"})
    # The SDK reports a failed orchestration by raising with the state attached.
    with pytest.raises(Exception, match="custody: raw body") as failed:
        history.run()
    done = json.loads(str(failed.value).split("$OutOfProcData$:", 1)[1])
    # The SDK marks the failure by "error" (the host fails the instance on the raise).
    assert done["error"].startswith("custody:")
