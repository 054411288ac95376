"""Queue triggers against real Azurite: batches, poison after N dequeues, message encoding."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient

from devhost.discovery import load_module
from devhost.queues import next_poll_delay
from tests.devhost.host_support import APPS, eventually, running_host, write_host_json

pytestmark = pytest.mark.devhost


@pytest.fixture
def app_module() -> Any:
    return load_module(APPS / "host_queues.py")


@pytest.fixture
def queues(
    azurite_conn: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, QueueClient]]:
    # The binding names DEVHOST_TEST_STORAGE; AzureWebJobsStorage is unset to prove the lookup.
    monkeypatch.setenv("DEVHOST_TEST_STORAGE", azurite_conn)
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    names = {"batch": f"{unique_name}b", "poison": f"{unique_name}p"}
    monkeypatch.setenv("DEVHOST_BATCH_QUEUE", names["batch"])
    monkeypatch.setenv("DEVHOST_POISON_QUEUE", names["poison"])
    clients = {}
    for key, name in names.items():
        for queue in (name, f"{name}-poison"):
            client = QueueClient.from_connection_string(azurite_conn, queue)
            client.create_queue()
            clients[queue if queue.endswith("-poison") else key] = client
    clients["batch_poison"] = clients.pop(f"{names['batch']}-poison")
    clients["poison_poison"] = clients.pop(f"{names['poison']}-poison")
    yield clients
    for client in clients.values():
        client.delete_queue()


def queue_options(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "batchSize": 4,
        "newBatchThreshold": 0,
        "maxPollingInterval": "00:00:00.200",
        "visibilityTimeout": "00:00:00",
        "maxDequeueCount": 3,
        "messageEncoding": "base64",
    }
    options.update(overrides)
    return {"queues": options}


def encoded_sender(azurite_conn: str, queue: QueueClient) -> QueueClient:
    return QueueClient.from_connection_string(
        azurite_conn, queue.queue_name, message_encode_policy=BinaryBase64EncodePolicy()
    )


def queue_is_empty(client: QueueClient) -> bool:
    return client.get_queue_properties().approximate_message_count == 0


async def test_batch_is_processed_concurrently_and_deleted(
    tmp_path: Path, azurite_conn: str, queues: dict[str, QueueClient], app_module: Any
):
    app_module.BATCH = app_module.Recorder(parties=4)
    bodies = [bytes([i, 0xFF]) + b"-payload" for i in range(8)]  # binary: not valid UTF-8
    sender = encoded_sender(azurite_conn, queues["batch"])
    for body in bodies:
        sender.send_message(body)
    host_json = write_host_json(tmp_path, queue_options())
    async with running_host("host_queues.py", host_json):
        await eventually(lambda: len(app_module.BATCH.calls) >= 8)
        await eventually(lambda: queue_is_empty(queues["batch"]))
    calls = app_module.BATCH.calls
    assert sorted(body for _, body, _ in calls) == sorted(bodies)
    # Each handler waits on a 4-party barrier, so any failure would show as a redelivery.
    assert [count for _, _, count in calls] == [1] * 8
    # newBatchThreshold=0: the next batch is fetched only once the previous one is done.
    assert app_module.BATCH.max_running == 4
    assert queue_is_empty(queues["batch_poison"])


async def test_failing_message_moves_to_poison_after_max_dequeue_count(
    tmp_path: Path, azurite_conn: str, queues: dict[str, QueueClient], app_module: Any
):
    app_module.POISON = app_module.Recorder()
    encoded_sender(azurite_conn, queues["poison"]).send_message(b"bad record")
    host_json = write_host_json(tmp_path, queue_options(maxDequeueCount=3))
    poison = queues["poison_poison"]
    async with running_host("host_queues.py", host_json):
        await eventually(lambda: not queue_is_empty(poison))
    poisoned = list(poison.receive_messages())
    assert [m.content for m in poisoned] == [base64.b64encode(b"bad record").decode()]
    assert [count for _, _, count in app_module.POISON.calls] == [1, 2, 3]
    assert {body for _, body, _ in app_module.POISON.calls} == {b"bad record"}
    assert queue_is_empty(queues["poison"])


async def test_message_encoding_none_passes_text_through(
    tmp_path: Path, queues: dict[str, QueueClient], app_module: Any
):
    app_module.BATCH = app_module.Recorder(parties=1)
    queues["batch"].send_message("plain text, not base64")
    host_json = write_host_json(tmp_path, queue_options(messageEncoding="none"))
    async with running_host("host_queues.py", host_json):
        await eventually(lambda: app_module.BATCH.calls)
        await eventually(lambda: queue_is_empty(queues["batch"]))
    assert [body for _, body, _ in app_module.BATCH.calls] == [b"plain text, not base64"]


async def test_non_base64_message_goes_to_poison_unprocessed(
    tmp_path: Path, queues: dict[str, QueueClient], app_module: Any
):
    app_module.BATCH = app_module.Recorder(parties=1)
    # The Python SDK sends text as-is by default: under base64 encoding the host cannot read it.
    queues["batch"].send_message("plain text, not base64!")
    host_json = write_host_json(tmp_path, queue_options())
    async with running_host("host_queues.py", host_json):
        await eventually(lambda: not queue_is_empty(queues["batch_poison"]))
    assert [m.content for m in queues["batch_poison"].receive_messages()] == [
        "plain text, not base64!"
    ]
    assert app_module.BATCH.calls == []
    assert queue_is_empty(queues["batch"])


@pytest.mark.parametrize("maximum", [0.5, 2.0, 60.0])
def test_idle_backoff_grows_to_the_maximum_and_resets_on_a_hit(maximum: float):
    delays = [0.1]
    for _ in range(20):
        delays.append(next_poll_delay(delays[-1], False, 0.1, maximum))
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[1] > 0.1
    assert delays[-1] == maximum
    assert next_poll_delay(maximum, True, 0.1, maximum) == 0.1
