"""End to end (issue #19): Meta `calls` webhooks and a call permission reply, each posted
twice, through devhost (the real function_app) into Azurite: one `call` record per call
event, found by search (`--type call`) and `show`, and a latest call state that a
terminate arriving before the statuses keeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from archive.names import INGEST_QUEUE, RECORDS_CONTAINER
from cli.main import main
from devhost.azurite import Azurite
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, send_webhook, wait_for
from tests.support.media_server import MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
CUSTOMER = "16315551181"
BUSINESS = "106540352242922"
# Arrival order: the business call's terminate (failed) comes before its connect and statuses.
SENT = ("calls_user_initiated_connect", "calls_failed", "calls_terminate",
        "interactive_call_permission_reply", "calls_business_initiated")
CALL_RECORDS = 6  # user call: connect, terminate; business call: connect, 2 statuses, terminate


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def call_id(name: str) -> str:
    return str(json.loads(fixture(name))["entry"][0]["changes"][0]["value"]["calls"][0]["id"])


USER_CALL = call_id("calls_user_initiated_connect")
BIZ_CALL = call_id("calls_business_initiated")
REPLY_ID = json.loads(fixture("interactive_call_permission_reply"))[
    "entry"][0]["changes"][0]["value"]["messages"][0]["id"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Azurite, DevHostProcess]]:
    """One private Azurite, Graph stand-in and devhost for the module (as tests/e2e/conftest)."""
    folder = tmp_path_factory.mktemp("calls-e2e")
    emulator = Azurite(folder / "azurite")
    emulator.start()
    media = MediaServer().start()
    host: DevHostProcess | None = None
    try:
        ensure_archive_resources(emulator.connection_string)
        host = DevHostProcess(emulator.connection_string, media.base_url,
                              folder / "devhost.log").start()
        yield emulator, host
    finally:
        if host is not None:
            host.stop()
        media.stop()
        emulator.stop()


def records(conn: str) -> dict[str, dict[str, Any]]:
    container = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER)
    return {b.name: json.loads(container.download_blob(b.name).readall())
            for b in container.list_blobs()}


def ingest_idle(conn: str) -> bool:
    queue = QueueServiceClient.from_connection_string(conn).get_queue_client(INGEST_QUEUE)
    return queue.get_queue_properties().approximate_message_count == 0


@pytest.fixture(scope="module")
def archived(stack: tuple[Azurite, DevHostProcess]) -> dict[str, dict[str, Any]]:
    emulator, host = stack
    conn = emulator.connection_string
    reader = IndexReader(TableServiceClient.from_connection_string(conn))
    for name in SENT:
        body = fixture(name)
        assert send_webhook(host, body) == 200
        assert send_webhook(host, body) == 200  # Meta redelivers
        if name == "calls_failed":
            # Make the terminate's state the shown one before its earlier events arrive.
            wait_for("terminate state", lambda: reader.latest_status(BIZ_CALL))
    wait_for("every record", lambda: len(records(conn)) >= CALL_RECORDS + 1)
    wait_for("ingest drained", lambda: ingest_idle(conn))
    wait_for("latest call states", lambda: (
        (u := reader.latest_status(USER_CALL)) and u["status"] == "completed"
        and (b := reader.latest_status(BIZ_CALL)) and len(reader.by_message(BIZ_CALL)) == 5
        and b))
    return records(conn)


def test_each_call_event_is_archived_exactly_once(archived: dict[str, dict[str, Any]]) -> None:
    assert not [n for n in archived if ".conflict-" in n]
    calls = {n: r for n, r in archived.items() if r["event"] == "call"}
    assert len(calls) == CALL_RECORDS and len(archived) == CALL_RECORDS + 1
    summary = sorted((r["message_id"], r["content"]["call"]["event"],
                      r["content"]["call"]["status"]) for r in calls.values())
    assert summary == sorted([
        (USER_CALL, "connect", None), (USER_CALL, "terminate", "completed"),
        (BIZ_CALL, "connect", None), (BIZ_CALL, "status", "ringing"),
        (BIZ_CALL, "status", "accepted"), (BIZ_CALL, "terminate", "failed"),
    ])
    for name, record in calls.items():
        assert (record["type"], record["provider"]) == ("call", "meta")
        assert record["conversation"]["business_id"] == BUSINESS
        assert record["conversation"]["customer_id"] == CUSTOMER
        expected = "inbound" if record["message_id"] == USER_CALL else "outbound"
        assert record["direction"] == expected
        assert "-call-" in name.rsplit("/", 1)[1]
        assert record["custody"]["method"] == "meta-hmac-sha256"
    failed = next(r for r in calls.values()
                  if r["content"]["call"]["status"] == "failed")
    assert [e["code"] for e in failed["content"]["call"]["errors"]] == [131000]
    (reply,) = [r for r in archived.values() if r["event"] == "message"]
    assert (reply["message_id"], reply["type"]) == (REPLY_ID, "interactive")
    assert reply["content"]["interactive"]["permission"] == "accepted"


def test_latest_call_state_never_regresses(
    stack: tuple[Azurite, DevHostProcess], archived: dict[str, dict[str, Any]]
) -> None:
    reader = IndexReader(TableServiceClient.from_connection_string(stack[0].connection_string))
    shown = reader.latest_status(BIZ_CALL)
    # The terminate came first; the earlier connect, RINGING and ACCEPTED came after it.
    assert shown is not None and (shown["status"], shown["call_event"]) == ("failed", "terminate")
    user = reader.latest_status(USER_CALL)
    assert user is not None and user["status"] == "completed"


def test_search_and_show_find_the_calls(
    stack: tuple[Azurite, DevHostProcess], archived: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    use_archive(monkeypatch, stack[0].connection_string)

    def run(*argv: str) -> Any:
        assert main([*argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    found = run("search", "--participant", CUSTOMER, "--type", "call", "--limit", "50")
    assert len(found["rows"]) == CALL_RECORDS
    assert {r["message_id"] for r in found["rows"]} == {USER_CALL, BIZ_CALL}
    by_day = run("search", "--from", "2024-05-31", "--to", "2024-05-31", "--type", "call",
                 "--limit", "50")
    assert len(by_day["rows"]) == CALL_RECORDS
    conversation = run("search", "--business", BUSINESS, "--customer", CUSTOMER,
                       "--type", "call", "--direction", "inbound")
    assert {r["message_id"] for r in conversation["rows"]} == {USER_CALL}

    shown = run("show", BIZ_CALL)
    assert [(c["event"], c["status"]) for c in shown["call_timeline"]] == [
        ("connect", None), ("status", "ringing"), ("status", "accepted"),
        ("terminate", "failed"),
    ]
    assert shown["latest_status"] == "failed"
    user = run("show", USER_CALL)
    terminate = user["call_timeline"][-1]
    assert (terminate["duration"], terminate["start_time"], terminate["end_time"]) == (
        120, "2024-05-31T16:08:45Z", "2024-05-31T16:10:45Z")
    assert main(["show", USER_CALL]) == 0
    assert "call timeline:" in capsys.readouterr().out
