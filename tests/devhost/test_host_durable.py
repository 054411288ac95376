"""DevHost with the Durable runtime: HTTP starter -> orchestration -> activity, on Azurite."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from devhost.keys import KeyRing
from tests.devhost.host_support import eventually, running_host, write_host_json

pytestmark = pytest.mark.devhost

MASTER_KEY = "durable-master-key"


async def test_http_starter_runs_orchestration_and_activity(
    tmp_path: Path, azurite_conn: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AzureWebJobsStorage", azurite_conn)
    hub = "Hub" + unique_name
    host_json = write_host_json(tmp_path, {"durableTask": {"hubName": hub}})
    keys = KeyRing(master_key=MASTER_KEY)
    async with (
        running_host("host_durable.py", host_json, keys) as host,
        aiohttp.ClientSession() as http,
    ):
        assert host.durable is not None
        async with http.post(f"{host.url}/api/start/ada") as resp:
            assert resp.status == 200
            instance_id = (await resp.json())["id"]

        async def completed() -> dict[str, object] | None:
            async with http.get(f"{host.url}/api/status/{instance_id}") as resp:
                state: dict[str, object] = await resp.json()
            return state if state["status"] in ("Completed", "Failed") else None

        final = await eventually(completed, deadline=60)
        assert final == {"status": "Completed", "output": "hello ada"}

        management = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}"
        async with http.get(management) as resp:
            assert resp.status == 401
        async with http.get(management, params={"code": MASTER_KEY}) as resp:
            assert resp.status == 200
            assert (await resp.json())["runtimeStatus"] == "Completed"
