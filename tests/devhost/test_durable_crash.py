"""kill -9 of a running `python -m devhost` mid-orchestration, restart, and everything finishes:
no activity whose completion was recorded before the kill runs again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import azure.durable_functions as df
import pytest
from azure.data.tables import TableClient

from devhost.azurite import REPO_ROOT, free_port
from tests.devhost.durable_harness import APPS, _reset_sdk_session, wait_until

pytestmark = pytest.mark.devhost

INSTANCES = 6
STEPS = 4


class Devhost:
    """`python -m devhost` in a child process (the HOST engineer's entry)."""

    def __init__(self, tmp: Path, conn: str, hub: str, log: Path) -> None:
        self.rpc_port = free_port()
        host_json = tmp / "host.json"
        host_json.write_text(
            json.dumps(
                {
                    "version": "2.0",
                    "extensions": {
                        "durableTask": {"hubName": hub, "maxConcurrentActivityFunctions": 4}
                    },
                }
            )
        )
        self.cmd = [
            sys.executable,
            "-m",
            "devhost",
            "--app",
            str(APPS / "durable_crash.py"),
            "--port",
            str(free_port()),
            "--rpc-port",
            str(self.rpc_port),
            "--host-json",
            str(host_json),
        ]
        self.env = {**os.environ, "AzureWebJobsStorage": conn, "DURABLE_CRASH_LOG": str(log)}
        self.stderr = tmp / "devhost.stderr"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=REPO_ROOT,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=self.stderr.open("a"),
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until the ready line or the child exits
            if line.startswith("devhost ready"):
                return
        raise AssertionError(f"devhost exited early: {self.stderr.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def recorded_completions(conn: str, hub: str) -> set[str]:
    """Activity inputs whose TaskCompleted is in storage (history or inbox) right now."""
    scheduled: dict[tuple[str, int], str] = {}
    completed: set[tuple[str, int]] = set()
    # One table: instance rows (RowKey "") have no Event; history and inbox rows do.
    with TableClient.from_connection_string(conn, f"{hub}Instances") as client:
        for entity in client.list_entities():
            if "Event" not in entity:
                continue
            event = json.loads(entity["Event"])
            key = entity["PartitionKey"]
            if event["EventType"] == 4:
                scheduled[(key, event["EventId"])] = json.loads(event["Input"])
            elif event["EventType"] == 5:
                completed.add((key, event["TaskScheduledId"]))
    return {scheduled[k] for k in completed}


def client_for(rpc_port: int, hub: str) -> df.DurableOrchestrationClient:
    binding = {
        "taskHubName": hub,
        "creationUrls": {},
        "managementUrls": {},
        "rpcBaseUrl": f"http://127.0.0.1:{rpc_port}/durabletask/",
    }
    return df.DurableOrchestrationClient(json.dumps(binding))


async def test_kill_restart_resumes_without_rerunning_recorded_activities(
    azurite_conn, unique_name, tmp_path
):
    log = tmp_path / "side-effects.log"
    log.touch()
    host = Devhost(tmp_path, azurite_conn, unique_name, log)
    try:
        host.start()
        await _reset_sdk_session()
        client = client_for(host.rpc_port, unique_name)
        ids = [await client.start_new("steps", f"run-{i}", f"run-{i}") for i in range(INSTANCES)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(log.read_text().splitlines()) >= INSTANCES:
                break
            await asyncio.sleep(0.02)
        host.kill()
        before_kill = recorded_completions(azurite_conn, unique_name)
        lines_at_kill = len(log.read_text().splitlines())
        assert 0 < len(before_kill) < INSTANCES * STEPS, "the kill must land mid-way"

        await _reset_sdk_session()
        host.start()
        client = client_for(host.rpc_port, unique_name)
        for instance_id in ids:
            status = await wait_until(client, instance_id)
            assert status.runtime_status.value == "Completed", status.output
            assert status.output == [f"{instance_id}:{i}" for i in range(STEPS)]
    finally:
        host.stop()
        await _reset_sdk_session()

    runs = Counter(log.read_text().splitlines())
    print(
        f"recorded before kill: {len(before_kill)}, side effects at kill: {lines_at_kill}, "
        f"runs after restart: {sum(runs.values())} for {INSTANCES * STEPS} activities"
    )
    expected = {f"run-{n}:{i}" for n in range(INSTANCES) for i in range(STEPS)}
    assert set(runs) == expected
    assert {label: runs[label] for label in before_kill} == {label: 1 for label in before_kill}
    # Only activities in flight at the kill may have run twice (at-least-once).
    assert sum(runs.values()) - len(expected) <= lines_at_kill - len(before_kill)
