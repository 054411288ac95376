"""Pure parts of the episode planner: retry delays, event choice, SDK result parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devhost.durable import history as h
from devhost.durable.engine import (
    choose_events,
    flatten,
    parse_result,
    plan_episode,
    retry_delay,
    scheduling_rows,
)
from devhost.durable.store import Row

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_retry_delay_applies_backoff_and_cap():
    options = {
        "firstRetryIntervalInMilliseconds": 100,
        "backoffCoefficient": 2,
        "maxRetryIntervalInMilliseconds": 300,
    }
    delays = [retry_delay(options, attempt) for attempt in (1, 2, 3, 4)]
    assert delays == [timedelta(milliseconds=ms) for ms in (100, 200, 300, 300)]
    assert retry_delay({"firstRetryIntervalInMilliseconds": 50}, 3) == timedelta(milliseconds=50)


def test_a_retry_event_is_replayed_alone_and_first():
    retry_row = Row(h.task_scheduled(0, "flaky", "1"), {"retry": {"attempt": 1}})
    plain_row = Row(h.task_scheduled(1, "double", "2"))
    by_id = scheduling_rows([retry_row, plain_row])
    plain_done = h.task_completed(1, "4")
    retry_failed = h.task_failed(0, "boom", "RuntimeError")
    assert choose_events([plain_done, retry_failed], by_id) == [plain_done]
    assert choose_events([retry_failed, plain_done], by_id) == [retry_failed]
    # A retry task that succeeds needs no host action, so it batches like a plain one.
    retry_done = h.task_completed(0, "1")
    assert choose_events([retry_done, plain_done], by_id) == [retry_done, plain_done]


def test_sdk_failure_text_is_split_from_its_state():
    state = {"isDone": False, "actions": [[]], "error": "boom", "customStatus": {"a": 1}}
    parsed, error = parse_result(Exception("boom\n\n$OutOfProcData$:" + json.dumps(state)))
    assert (parsed["customStatus"], error) == ({"a": 1}, "boom")


def test_compound_actions_flatten_in_yield_order():
    actions = [
        [
            {"actionType": 0, "functionName": "a"},
            {"actionType": 12, "compoundActions": [{"actionType": 0, "functionName": "b"}]},
        ]
    ]
    assert [a["functionName"] for a in flatten(actions)] == ["a", "b"]


def test_failed_attempt_gets_a_timer_with_the_next_task_id():
    old = [
        Row(h.orchestrator_started(NOW)),
        Row(h.execution_started("o", None, "i", "e")),
        Row(
            h.task_scheduled(0, "flaky", "1"),
            {
                "action": 0,
                "retry": {
                    "name": "flaky",
                    "input": "1",
                    "attempt": 1,
                    "options": {"firstRetryIntervalInMilliseconds": 500},
                },
            },
        ),
        Row(h.orchestrator_completed()),
    ]
    new = [h.orchestrator_started(NOW), h.task_failed(0, "boom", "RuntimeError")]
    state = {"isDone": False, "actions": [[{"actionType": 1, "functionName": "flaky"}]]}
    outcome = plan_episode("o", old, new, json.dumps(state), NOW)
    timer = outcome.rows[2].event
    assert (h.type_of(timer), timer["EventId"]) == (h.EventType.TimerCreated, 1)
    assert h.parse_iso(timer["FireAt"]) == NOW + timedelta(milliseconds=500)
    assert outcome.activities == [] and len(outcome.timers) == 1
