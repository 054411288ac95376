"""start_once: a duplicate webhook starts nothing new; a failed start is retried by the queue."""

from __future__ import annotations

from typing import Any

import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from ingest.worker import start_once

pytestmark = pytest.mark.unit


class FakeClient:
    """Just the two DurableOrchestrationClient calls start_once makes."""

    def __init__(self, statuses: list[str | None], start_error: Exception | None = None) -> None:
        self.statuses = statuses
        self.start_error = start_error
        self.started: list[tuple[str, str, Any]] = []

    async def get_status(self, instance_id: str) -> DurableOrchestrationStatus:
        value = self.statuses.pop(0) if self.statuses else None
        if value is None:
            return DurableOrchestrationStatus.from_json("")
        return DurableOrchestrationStatus.from_json(
            {"instanceId": instance_id, "runtimeStatus": value,
             "createdTime": "2026-11-26T12:00:00Z"}
        )

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        if self.start_error is not None:
            raise self.start_error
        self.started.append((name, instance_id, client_input))
        return instance_id


async def test_new_instance_is_started() -> None:
    client = FakeClient([None])
    assert await start_once(client, "meta-message-1", {"x": 1}) is True
    assert client.started == [("archive_event", "meta-message-1", {"x": 1})]


@pytest.mark.parametrize("status", ["Completed", "Running", "Pending"])
async def test_existing_instance_is_not_restarted(status: str) -> None:
    client = FakeClient([status])
    assert await start_once(client, "meta-message-1", {}) is False
    assert client.started == []


async def test_failed_instance_is_started_again() -> None:
    client = FakeClient(["Failed"])
    assert await start_once(client, "meta-message-1", {}) is True
    assert len(client.started) == 1


async def test_lost_race_counts_as_already_started() -> None:
    client = FakeClient([None, "Running"], start_error=Exception("instance already exists"))
    assert await start_once(client, "meta-message-1", {}) is False


async def test_start_failure_raises_so_the_queue_retries() -> None:
    client = FakeClient([None, None], start_error=Exception("host unavailable"))
    with pytest.raises(Exception, match="host unavailable"):
        await start_once(client, "meta-message-1", {})


class CountingClient(FakeClient):
    """Counts the status reads (each one is a storage call in the Durable backend)."""

    def __init__(self, statuses: list[str | None], start_error: Exception | None = None) -> None:
        super().__init__(statuses, start_error)
        self.reads = 0

    async def get_status(self, instance_id: str) -> DurableOrchestrationStatus:
        self.reads += 1
        return await super().get_status(instance_id)


async def test_fresh_body_starts_without_reading_the_status() -> None:
    """The raw PUT answered 201: no earlier delivery of these bytes, so no status read."""
    client = CountingClient(["Completed"])  # would stop a start if it were read
    assert await start_once(client, "meta-message-1", {"x": 1}, fresh_body=True) is True
    assert client.reads == 0
    assert client.started == [("archive_event", "meta-message-1", {"x": 1})]


@pytest.mark.parametrize("status", ["Completed", "Running", "Pending"])
async def test_known_body_reads_the_status_first(status: str) -> None:
    """A redelivery (409 + same bytes) keeps the read: a Completed instance is not re-run."""
    client = CountingClient([status])
    assert await start_once(client, "meta-message-1", {}, fresh_body=False) is False
    assert client.reads == 1 and client.started == []


async def test_fresh_body_that_lost_a_start_race_counts_as_already_started() -> None:
    """A parallel delivery started it first: start_new raises, the read after it says so."""
    client = CountingClient(["Running"], start_error=Exception("instance already exists"))
    assert await start_once(client, "meta-message-1", {}, fresh_body=True) is False
    assert client.reads == 1


async def test_fresh_body_start_failure_still_raises() -> None:
    client = CountingClient([None], start_error=Exception("host unavailable"))
    with pytest.raises(Exception, match="host unavailable"):
        await start_once(client, "meta-message-1", {}, fresh_body=True)
