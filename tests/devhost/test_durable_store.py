"""Storage-level crash windows: torn history writes and a history that ended before its row."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.data.tables.aio import TableClient

from devhost.durable import history as h
from devhost.durable.engine import execution_ending
from devhost.durable.store import CommitConflict, Instance, Row, TaskHubStore, instance_filter
from tests.devhost.durable_harness import app_module, serve, wait_until

pytestmark = pytest.mark.devhost

NOW = h.utc_now()


async def test_a_torn_episode_is_ignored_on_load(azurite_conn, unique_name):
    store = TaskHubStore(azurite_conn, unique_name)
    await store.create()
    try:
        complete = [
            Row(h.orchestrator_started(NOW)),
            Row(h.execution_started("o", None, "i", "e1")),
            Row(h.task_scheduled(0, "a", None), {"action": 0}),
            Row(h.orchestrator_completed()),
        ]
        torn = [Row(h.orchestrator_started(NOW)), Row(h.task_completed(0, "1"))]
        await store.append_history("i", "e1", 0, complete)
        await store.append_history("i", "e1", len(complete), torn)
        await store.append_history("i", "e0", 0, complete)  # an older execution's rows
        loaded = await store.load_history("i", "e1")
        assert [r.event for r in loaded] == [r.event for r in complete]
        assert loaded[2].meta == {"action": 0}
    finally:
        await store.close()


def test_execution_ending_reads_the_outcome_from_history():
    def rows(*events: h.Event) -> list[Row]:
        return [Row(e) for e in events]

    assert execution_ending(rows(h.orchestrator_started(NOW))) is None
    done = rows(h.execution_completed("Completed", json.dumps([1, 2])))
    assert execution_ending(done) == ("Completed", "[1, 2]", None)
    failed = rows(h.execution_completed("Failed", "boom"))
    assert execution_ending(failed) == ("Failed", '"boom"', None)
    assert execution_ending(rows(h.continue_as_new("4"))) == ("ContinuedAsNew", None, "4")
    assert execution_ending(rows(h.execution_terminated("stop"))) == ("Terminated", '"stop"', None)


async def test_history_that_ended_before_the_row_update_is_reconciled_on_start(
    azurite_conn, unique_name
):
    store = TaskHubStore(azurite_conn, unique_name)
    async with serve(azurite_conn, unique_name) as harness:
        await harness.client.start_new("gated", "r-1", f"{unique_name}-never")
        await wait_until(harness.client, "r-1", {"Running"})
        instance = await harness.runtime.get_instance("r-1")
        assert instance is not None
        history = await store.load_history("r-1", instance.execution_id)
    app_module().gate(f"{unique_name}-never").set()  # free the worker thread
    # Simulate a crash after the final episode's history write, before the row update.
    ending = [
        Row(h.orchestrator_started(NOW)),
        Row(h.task_completed(0, json.dumps("released"))),
        Row(h.execution_completed("Completed", json.dumps("released"))),
        Row(h.orchestrator_completed()),
    ]
    await store.append_history("r-1", instance.execution_id, len(history), ending)
    await store.close()
    async with serve(azurite_conn, unique_name) as harness:
        status = await harness.client.get_status("r-1")
        assert (status.runtime_status.value, status.output) == ("Completed", "released")


class CountingPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Counts the requests one TableClient sends (each is a billed storage transaction)."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        self.requests.append(request.http_request.method)


def instance(execution_id: str = "e1", status: str = "Running") -> Instance:
    return Instance("i", "o", status, execution_id, None, NOW, NOW)


async def test_an_episode_commits_history_row_and_consumed_inbox_in_one_call(
    azurite_conn, unique_name
):
    store = TaskHubStore(azurite_conn, unique_name)
    await store.create()
    counting = CountingPolicy()
    await store.table.close()
    store.table = TableClient.from_connection_string(
        azurite_conn, f"{unique_name}Instances", per_call_policies=[counting]
    )
    try:
        first = [
            Row(h.orchestrator_started(NOW)),
            Row(h.execution_started("o", None, "i", "e1")),
            Row(h.task_scheduled(0, "a", None)),
            Row(h.orchestrator_completed()),
        ]
        await store.commit(instance(), 0, first, create=True)
        item = await store.add_inbox("i", "e1", h.task_completed(0, "1"))
        counting.requests.clear()
        second = [
            Row(h.orchestrator_started(NOW)),
            Row(h.task_completed(0, "1")),
            Row(h.execution_completed("Completed", "1")),
            Row(h.orchestrator_completed()),
        ]
        await store.commit(instance(status="Completed"), len(first), second, [item.row_key])
        assert counting.requests == ["POST"]  # one $batch
        assert [r.event for r in await store.load_history("i", "e1")] == [
            r.event for r in first + second
        ]
        assert await store.load_inbox("i") == []
        stored = await store.get_instance("i")
        assert stored is not None and stored.status == "Completed"
        # Instance queries see the instance row only, not its history or inbox rows.
        assert [i.instance_id for i in await store.query_instances(instance_filter())] == ["i"]
    finally:
        await store.close()


async def test_a_create_only_commit_on_an_existing_instance_writes_nothing(
    azurite_conn, unique_name
):
    store = TaskHubStore(azurite_conn, unique_name)
    await store.create()
    try:
        rows = [Row(h.orchestrator_started(NOW)), Row(h.orchestrator_completed())]
        await store.commit(instance("e1"), 0, rows, create=True)
        with pytest.raises(CommitConflict):
            await store.commit(instance("e2"), 0, rows, create=True)
        stored = await store.get_instance("i")
        assert stored is not None and stored.execution_id == "e1"
        assert await store.load_history("i", "e2") == []
    finally:
        await store.close()


async def test_a_long_episode_splits_in_order_and_an_inbox_row_already_gone_is_no_error(
    azurite_conn, unique_name
):
    store = TaskHubStore(azurite_conn, unique_name)
    await store.create()
    try:
        rows = [Row(h.orchestrator_started(NOW))]
        rows += [Row(h.task_scheduled(n, "a", str(n))) for n in range(150)]
        rows.append(Row(h.orchestrator_completed()))
        kept = await store.add_inbox("i", "e1", h.task_completed(0, "1"))
        await store.commit(instance(), 0, rows, [kept.row_key, "never-written"], create=True)
        assert len(await store.load_history("i", "e1")) == len(rows)
        assert await store.load_inbox("i") == []
    finally:
        await store.close()


async def test_a_failed_episode_write_keeps_the_result_it_held_in_memory(azurite_conn, unique_name):
    """The result is not written before the episode; a failed episode must write it then,
    or the activity would run a second time."""
    async with serve(azurite_conn, unique_name) as harness:
        runtime = harness.runtime
        real_commit = runtime.store.commit
        calls = 0

        async def commit_failing_once(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:  # the episode that replays the activity's result
                raise ServiceRequestError("storage unreachable")
            await real_commit(*args, **kwargs)

        runtime.store.commit = commit_failing_once  # type: ignore[method-assign]
        job = {"key": f"{unique_name}-once", "fail_times": 0}
        instance_id = await harness.client.start_new("with_retry", None, job)
        status = await wait_until(harness.client, instance_id)
        assert (status.runtime_status.value, status.output) == ("Completed", "ok after 1")
        assert app_module().ATTEMPTS[job["key"]] == 1
        assert calls >= 3
