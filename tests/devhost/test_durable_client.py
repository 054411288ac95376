"""The Durable HTTP API subset, exercised through the SDK's own DurableOrchestrationClient."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import azure.durable_functions as df
import pytest

from tests.devhost.durable_harness import app_module, serve, wait_until

pytestmark = pytest.mark.devhost

fixture_app = app_module()
Status = df.OrchestrationRuntimeStatus


async def test_start_with_an_active_id_is_refused_and_leaves_it_untouched(
    azurite_conn, unique_name
):
    async with serve(azurite_conn, unique_name) as h:
        first, second = f"{unique_name}-a", f"{unique_name}-b"
        fixture_app.gate(second).set()
        await h.client.start_new("gated", "order-1", first)
        await wait_until(h.client, "order-1", {"Running"})
        with pytest.raises(Exception, match="already exists"):
            await h.client.start_new("gated", "order-1", second)
        running = await h.client.get_status("order-1", show_input=True)
        assert (running.runtime_status, running.input_) == (Status.Running, first)

        fixture_app.gate(first).set()
        done = await wait_until(h.client, "order-1")
        assert done.output == f"released {first}"

        # A finished instance is replaced, as the Durable default does.
        assert await h.client.start_new("gated", "order-1", second) == "order-1"
        again = await wait_until(h.client, "order-1")
        assert again.output == f"released {second}"
        history = await h.client.get_status("order-1", show_history=True)
        started = [e for e in history.historyEvents if e["EventType"] == "ExecutionStarted"]
        assert [e["Input"] for e in started] == [f'"{second}"']


async def test_status_of_unknown_instance_and_hidden_input(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        assert not await h.client.get_status("no-such-instance")
        with pytest.raises(Exception, match="doesn't exist"):
            await h.client.start_new("no_such_orchestrator", None, None)
        instance_id = await h.client.start_new("chain", None, 5)
        await wait_until(h.client, instance_id)
        # The SDK omits showInput=False from the URL; like the extension, input defaults to shown.
        shown = await h.client.get_status(instance_id)
        url = f"{h.runtime.rpc_base_url}instances/{instance_id}?showInput=false"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            hidden = await response.json()
        assert (hidden["input"], shown.input_) == (None, 5)
        assert shown.name == "chain" and shown.created_time <= shown.last_updated_time
        brief = await h.client.get_status(instance_id, show_history=True)
        full = await h.client.get_status(instance_id, show_history=True, show_history_output=True)
        done = [e for e in full.historyEvents if e["EventType"] == "TaskCompleted"]
        assert [e["Result"] for e in done] == ["10", "20", "40"]
        assert all("Result" not in e for e in brief.historyEvents)


async def test_query_filters_by_status_and_created_time_and_pages(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        before = datetime.now(UTC) - timedelta(seconds=1)
        done_ids = [await h.client.start_new("chain", f"q-{i}", i) for i in range(5)]
        for instance_id in done_ids:
            await wait_until(h.client, instance_id)
        key = f"{unique_name}-q"
        await h.client.start_new("gated", "q-running", key)
        await wait_until(h.client, "q-running", {"Running"})

        completed = await h.client.get_status_by(runtime_status=[Status.Completed])
        assert sorted(s.instance_id for s in completed) == done_ids
        running = await h.client.get_status_by(runtime_status=[Status.Running, Status.Pending])
        assert [s.instance_id for s in running] == ["q-running"]
        assert len(await h.client.get_status_by(created_time_from=before)) == 6
        assert await h.client.get_status_by(created_time_to=before) == []
        assert len(await h.client.get_status_all()) == 6
        by_prefix = await h.client.get_status_by(instance_id_prefix="q-r")
        assert [s.instance_id for s in by_prefix] == ["q-running"]

        pages: list[list[str]] = []
        token = None
        async with aiohttp.ClientSession() as http:
            while True:
                headers: dict[str, str] = {"x-ms-continuation-token": token} if token else {}
                url = f"{h.runtime.rpc_base_url}instances/?top=2&runtimeStatus=Completed"
                async with http.get(url, headers=headers) as response:
                    assert response.status == 200
                    pages.append([s["instanceId"] for s in await response.json()])
                    token = response.headers.get("x-ms-continuation-token")
                if not token:
                    break
        assert [len(p) for p in pages] == [2, 2, 1]
        assert sorted(i for p in pages for i in p) == done_ids
        fixture_app.gate(key).set()
        await wait_until(h.client, "q-running")


async def test_terminate_stops_a_running_instance(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        key = f"{unique_name}-t"
        await h.client.start_new("gated", "t-1", key)
        await wait_until(h.client, "t-1", {"Running"})
        await h.client.terminate("t-1", "operator said so")
        status = await wait_until(h.client, "t-1")
        assert (status.runtime_status, status.output) == (Status.Terminated, "operator said so")
        await h.client.terminate("t-1", "again")  # 410 Gone: accepted by the SDK
        with pytest.raises(Exception, match="No instance"):
            await h.client.terminate("t-unknown", "nothing")
        fixture_app.gate(key).set()
        # The late activity result must not revive it; a fresh episode would need the gate.
        status = await h.client.get_status("t-1", show_history=True)
        assert status.runtime_status == Status.Terminated
        kinds = [e["EventType"] for e in status.historyEvents]
        assert kinds[-3:] == ["OrchestratorStarted", "ExecutionTerminated", "OrchestratorCompleted"]


async def test_purge_one_and_by_filter(azurite_conn, unique_name):
    async with serve(azurite_conn, unique_name) as h:
        before = datetime.now(UTC) - timedelta(seconds=1)
        ids = [await h.client.start_new("chain", f"p-{i}", i) for i in range(3)]
        for instance_id in ids:
            await wait_until(h.client, instance_id)
        key = f"{unique_name}-p"
        await h.client.start_new("gated", "p-running", key)
        await wait_until(h.client, "p-running", {"Running"})

        assert (await h.client.purge_instance_history("p-0")).instances_deleted == 1
        assert not await h.client.get_status("p-0")
        assert (await h.client.purge_instance_history("p-0")).instances_deleted == 0
        with pytest.raises(Exception, match="409"):
            await h.client.purge_instance_history("p-running")

        result = await h.client.purge_instance_history_by(created_time_from=before)
        assert result.instances_deleted == 2
        remaining = await h.client.get_status_all()
        assert [s.instance_id for s in remaining] == ["p-running"]
        fixture_app.gate(key).set()
        await wait_until(h.client, "p-running")
        result = await h.client.purge_instance_history_by(
            created_time_from=before, runtime_status=[Status.Completed]
        )
        assert result.instances_deleted == 1
        assert await h.client.get_status_all() == []


async def test_storage_outage_answers_a_retryable_json_503(fresh_azurite, unique_name):
    async with serve(fresh_azurite.connection_string, unique_name) as h:
        instance_id = await h.client.start_new("chain", None, 1)
        await wait_until(h.client, instance_id)
        for _ in range(200):  # until its last writes are done and it is no longer in memory
            if h.runtime.unfinished == 0:
                break
            await asyncio.sleep(0.05)
        fresh_azurite.stop()
        try:
            # A query always reads storage (a status read may be served from memory).
            url = f"{h.runtime.rpc_base_url}instances?top=10"
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                body = await response.json()
            assert response.status == 503
            assert "storage is unavailable" in body["Message"]
        finally:
            fresh_azurite.start()
        assert (await h.client.get_status(instance_id)).runtime_status == Status.Completed
