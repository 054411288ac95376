"""Storage-level crash windows: torn history writes and a history that ended before its row."""

from __future__ import annotations

import json

import pytest

from devhost.durable import history as h
from devhost.durable.engine import execution_ending
from devhost.durable.store import Row, TaskHubStore
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
