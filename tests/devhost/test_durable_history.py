"""The history devhost records, against hand-written DTFx sequences."""

from __future__ import annotations

from typing import Any

import pytest

from tests.devhost.durable_harness import Harness, episodes, serve, shape, wait_until

pytestmark = pytest.mark.devhost

OS, OC = ("OrchestratorStarted",), ("OrchestratorCompleted",)


async def recorded(h: Harness, instance_id: str) -> list[dict[str, Any]]:
    await wait_until(h.client, instance_id)
    status = await h.client.get_status(instance_id, show_history=True, show_history_output=True)
    events: list[dict[str, Any]] = status.historyEvents
    return events


async def test_chaining_history_matches_dtfx(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        events = await recorded(h, await h.client.start_new("chain", None, 1))
    assert shape(events) == [
        OS,
        ("ExecutionStarted",),
        ("TaskScheduled", 0),
        OC,
        OS,
        ("TaskCompleted", 0),
        ("TaskScheduled", 1),
        OC,
        OS,
        ("TaskCompleted", 1),
        ("TaskScheduled", 2),
        OC,
        OS,
        ("TaskCompleted", 2),
        ("ExecutionCompleted", "Completed"),
        OC,
    ]
    assert [e["Result"] for e in events if e["EventType"] == "TaskCompleted"] == ["2", "4", "8"]
    assert all(e["EventId"] == -1 for e in events if e["EventType"] != "TaskScheduled")
    assert events[1]["Name"] == "chain" and events[1]["Input"] == "1"


async def test_fan_out_history_schedules_all_then_completes_each(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        events = await recorded(h, await h.client.start_new("fan_out", None, [1, 2, 3]))
    split = episodes(events)
    assert shape(split[0]) == [
        OS,
        ("ExecutionStarted",),
        ("TaskScheduled", 0),
        ("TaskScheduled", 1),
        ("TaskScheduled", 2),
        OC,
    ]
    later = [s for s in shape(events[len(split[0]) :]) if s not in (OS, OC)]
    # Completions arrive in any order and may share an episode; each id exactly once.
    assert sorted(later[:-1]) == [("TaskCompleted", 0), ("TaskCompleted", 1), ("TaskCompleted", 2)]
    assert later[-1] == ("ExecutionCompleted", "Completed")


async def test_retry_history_puts_a_timer_after_every_failed_attempt(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        job = {"key": f"{unique_name}-hist", "fail_times": 2}
        events = await recorded(h, await h.client.start_new("with_retry", None, job))
    assert shape(events) == [
        OS,
        ("ExecutionStarted",),
        ("TaskScheduled", 0),
        OC,
        OS,
        ("TaskFailed", 0),
        ("TimerCreated", 1),
        OC,
        OS,
        ("TimerFired", 1),
        ("TaskScheduled", 2),
        OC,
        OS,
        ("TaskFailed", 2),
        ("TimerCreated", 3),
        OC,
        OS,
        ("TimerFired", 3),
        ("TaskScheduled", 4),
        OC,
        OS,
        ("TaskCompleted", 4),
        ("ExecutionCompleted", "Completed"),
        OC,
    ]
    scheduled = [e for e in events if e["EventType"] == "TaskScheduled"]
    assert {e["Name"] for e in scheduled} == {"flaky"}
    assert len({e["Input"] for e in scheduled}) == 1


async def test_retry_exhaustion_history_ends_with_the_final_timer(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        job = {"key": f"{unique_name}-exh", "fail_times": 99}
        events = await recorded(h, await h.client.start_new("with_retry", None, job))
    assert shape(events) == [
        OS,
        ("ExecutionStarted",),
        ("TaskScheduled", 0),
        OC,
        OS,
        ("TaskFailed", 0),
        ("TimerCreated", 1),
        OC,
        OS,
        ("TimerFired", 1),
        ("TaskScheduled", 2),
        OC,
        OS,
        ("TaskFailed", 2),
        ("TimerCreated", 3),
        OC,
        OS,
        ("TimerFired", 3),
        ("TaskScheduled", 4),
        OC,
        OS,
        ("TaskFailed", 4),
        ("TimerCreated", 5),
        OC,
        OS,
        ("TimerFired", 5),
        ("ExecutionCompleted", "Failed"),
        OC,
    ]
    failure = [e for e in events if e["EventType"] == "TaskFailed"][-1]
    reason = f"Activity function 'flaky' failed: flaky failure 3 for {job['key']}"
    assert failure["Reason"] == reason
