"""Run DurableRuntime in-process with its Durable HTTP API on a free loopback port,
and hand tests the SDK's real DurableOrchestrationClient pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.durable_functions as df
from aiohttp import web
from azure.durable_functions.models.utils import http_utils

from devhost.azurite import free_port
from devhost.discovery import discover, load_module
from devhost.durable import DurableRuntime
from devhost.durable.history import EventType

APPS = Path(__file__).parent / "apps"
PATTERNS_APP = APPS / "durable_patterns.py"
TERMINAL = {"Completed", "Failed", "Terminated"}


def app_module(app_path: Path = PATTERNS_APP) -> ModuleType:
    """The fixture app module exactly as devhost imported it (not a second copy)."""
    return load_module(app_path)


@dataclass
class Harness:
    runtime: DurableRuntime
    client: df.DurableOrchestrationClient


async def _reset_sdk_session() -> None:
    # The SDK keeps one module-level aiohttp session; each test has its own event loop.
    await http_utils._close_session()
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()


@asynccontextmanager
async def serve(
    connection_string: str, hub: str, app_path: Path = PATTERNS_APP
) -> AsyncIterator[Harness]:
    await _reset_sdk_session()
    port = free_port()
    runtime = DurableRuntime(
        specs=discover(app_path),
        connection_string=connection_string,
        hub_name=hub,
        rpc_base_url=f"http://127.0.0.1:{port}/durabletask/",
        max_concurrent_activities=4,
        max_concurrent_orchestrators=4,
    )
    app = web.Application()
    runtime.add_routes(app, "/durabletask/")
    await runtime.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    binding = {"type": "durableClient", "name": "client", "direction": "IN"}
    client = df.DurableOrchestrationClient(runtime.client_binding_json(binding))
    try:
        yield Harness(runtime, client)
    finally:
        await runtime.stop()
        await runner.cleanup()
        await _reset_sdk_session()


async def wait_until(
    client: df.DurableOrchestrationClient,
    instance_id: str,
    statuses: set[str] = TERMINAL,
    limit_s: float = 60.0,
) -> df.DurableOrchestrationStatus:
    """Poll through the SDK client; a timeout fails the test (it is not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        status = await client.get_status(instance_id)
        if status and status.runtime_status and status.runtime_status.value in statuses:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{instance_id} stuck in {status.runtime_status}")
        await asyncio.sleep(0.05)


def episodes(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split history into episodes; each must run OrchestratorStarted .. OrchestratorCompleted."""
    split: list[list[dict[str, Any]]] = []
    for event in events:
        if event["EventType"] == "OrchestratorStarted":
            split.append([])
        assert split, "history must start with OrchestratorStarted"
        split[-1].append(event)
    for episode in split:
        assert episode[-1]["EventType"] == "OrchestratorCompleted", episode
    return split


def shape(events: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """(EventType, the id field that matters) for each event, as hand-written expectations use."""
    out: list[tuple[object, ...]] = []
    for e in events:
        kind = e["EventType"] if isinstance(e["EventType"], str) else EventType(e["EventType"]).name
        if kind in ("TaskScheduled", "TimerCreated"):
            out.append((kind, e["EventId"]))
        elif kind in ("TaskCompleted", "TaskFailed"):
            out.append((kind, e["TaskScheduledId"]))
        elif kind == "TimerFired":
            out.append((kind, e["TimerId"]))
        elif kind == "ExecutionCompleted":
            out.append((kind, e["OrchestrationStatus"]))
        else:
            out.append((kind,))
    return out
