"""Durable patterns through devhost's backend, driven by the SDK's real client and replay."""

from __future__ import annotations

import pytest

from tests.devhost.durable_harness import app_module, serve, wait_until

pytestmark = pytest.mark.devhost

fixture_app = app_module()


async def test_chaining_passes_each_result_to_the_next_activity(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        instance_id = await h.client.start_new("chain", None, 3)
        status = await wait_until(h.client, instance_id)
        assert status.runtime_status.value == "Completed"
        assert status.output == [6, 12, 24]


async def test_fan_out_fan_in_sums_every_branch(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        instance_id = await h.client.start_new("fan_out", None, list(range(10)))
        status = await wait_until(h.client, instance_id)
        assert (status.runtime_status.value, status.output) == ("Completed", 90)


async def test_task_any_returns_the_first_finished_task(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        instance_id = await h.client.start_new("first_of", None, None)
        status = await wait_until(h.client, instance_id)
        assert (status.runtime_status.value, status.output) == ("Completed", "activity")


async def test_retry_succeeds_after_failures(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        job = {"key": f"{unique_name}-ok", "fail_times": 2}
        instance_id = await h.client.start_new("with_retry", None, job)
        status = await wait_until(h.client, instance_id)
        assert (status.runtime_status.value, status.output) == ("Completed", "ok after 3")
        assert fixture_app.ATTEMPTS[job["key"]] == 3


async def test_retry_exhaustion_fails_with_the_activity_error(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        job = {"key": f"{unique_name}-bad", "fail_times": 99}
        instance_id = await h.client.start_new("with_retry", None, job)
        status = await wait_until(h.client, instance_id)
        assert status.runtime_status.value == "Failed"
        assert f"flaky failure 3 for {job['key']}" in status.output
        assert fixture_app.ATTEMPTS[job["key"]] == 3


async def test_durable_timer_fires_and_time_comes_from_history(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        instance_id = await h.client.start_new("sleepy", None, None)
        status = await wait_until(h.client, instance_id)
        assert status.runtime_status.value == "Completed"
        # current_utc_datetime is replayed from OrchestratorStarted, which follows TimerFired.
        assert status.output >= 1.0


async def test_continue_as_new_restarts_with_the_new_input(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        instance_id = await h.client.start_new("counter", None, 0)
        status = await wait_until(h.client, instance_id)
        assert (status.runtime_status.value, status.output) == ("Completed", 3)
        # Only the last execution's history is kept, as with the Azure Storage provider.
        full = await h.client.get_status(instance_id, show_history=True)
        started = [e for e in full.historyEvents if e["EventType"] == "ExecutionStarted"]
        assert [e["Input"] for e in started] == ["3"]


async def test_custom_status_is_visible_while_running_and_after(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        key = f"{unique_name}-report"
        instance_id = await h.client.start_new("reporter", None, key)
        running = await wait_until(h.client, instance_id, {"Running"})
        while running.custom_status is None:
            running = await wait_until(h.client, instance_id, {"Running"})
        assert running.custom_status == {"stage": "working"}
        fixture_app.gate(key).set()
        done = await wait_until(h.client, instance_id)
        assert done.custom_status == {"stage": "done"}
        assert done.output == "reported"


async def test_unsupported_features_fail_clearly(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        instance_id = await h.client.start_new("external", None, None)
        status = await wait_until(h.client, instance_id)
        assert status.runtime_status.value == "Failed"
        assert "not supported by devhost" in status.output


async def test_retries_inside_a_fan_out_keep_task_ids_in_step(azurite_conn, unique_name):
    # Retry timers and re-attempts take task ids while other tasks complete around them;
    # a numbering slip would leave the SDK waiting forever or hand it the wrong result.
    async with serve(azurite_conn, unique_name) as h:
        instance_id = await h.client.start_new("retry_fan", None, unique_name)
        status = await wait_until(h.client, instance_id)
        assert status.runtime_status.value == "Completed", status.output
        assert status.output == ["ok after 2", "ok after 3", 10, 2]
