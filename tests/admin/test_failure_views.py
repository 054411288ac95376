"""What the failure views list: every unsuccessful orchestration, every poison message,
every kind of failures-table row."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from admin.actions import audited_replay
from admin.audit import recent_entries
from admin.connection import AdminError, Archive
from admin.detail import message_detail
from admin.durable_api import CONTINUATION_HEADER, DurableApi, DurableSettings
from admin.failures import KIND_LABELS, failures, orchestration_failures
from admin.poison import peek_poison
from archive.index import FailureKind, failure_entity
from archive.names import DEADLETTER_CONTAINER, INGEST_POISON_QUEUE, INGEST_QUEUE
from cli.main import main
from storage.clients import blob_service, queue_client, table_service
from storage.deadletter import drain_poison
from storage.index_writer import write_failure
from tests.admin import seed
from tests.support import webhooks

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
FAR_DAY = "2999-12-30"


class Instances:
    """A canned Durable API holding one instance per runtime status."""

    def __init__(self) -> None:
        self.queries: list[dict[str, list[str]]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes | None
                 ) -> tuple[int, dict[str, str], bytes]:
        query = parse_qs(urlsplit(url).query)
        self.queries.append(query)
        wanted = query.get("runtimeStatus", [""])[0].split(",")
        rows: list[dict[str, Any]] = [
            {"instanceId": f"{status.lower()}-1", "name": "archive_event",
             "runtimeStatus": status, "createdTime": "2026-03-20T08:00:00Z",
             "lastUpdatedTime": "2026-03-20T08:00:09Z", "output": f"{status} for a reason"}
            for status in ("Running", "Completed", "Failed", "Terminated", "Canceled")
            if status in wanted
        ]
        return 200, {CONTINUATION_HEADER: "null"}, json.dumps(rows).encode()


def durable(instances: Instances) -> DurableApi:
    return DurableApi(DurableSettings("http://durable.invalid/api", None, "test"), instances)


@pytest.mark.unit
def test_failed_terminated_and_canceled_are_listed_over_30_days() -> None:
    instances = Instances()
    found = orchestration_failures(durable(instances), now=NOW)
    assert sorted(f.detail["status"] for f in found) == ["Canceled", "Failed", "Terminated"]
    assert {f.label for f in found} == {
        "orchestration failed", "orchestration terminated", "orchestration canceled"}
    assert all(f.replayable and f.id.startswith("orchestration:") for f in found)
    (query,) = instances.queries
    assert query["createdTimeFrom"] == ["2026-03-01T12:00:00Z"]
    orchestration_failures(durable(instances), now=NOW, days=2)
    assert instances.queries[-1]["createdTimeFrom"] == ["2026-03-29T12:00:00Z"]


@pytest.mark.azurite
def test_cli_failures_takes_a_window_in_days(
    archive: Archive, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    instances = Instances()
    monkeypatch.setattr("cli.admin_commands.open_durable", lambda *_: durable(instances))
    assert main(["failures", "--days", "7", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {f["id"] for f in listed} >= {
        "orchestration:failed-1", "orchestration:terminated-1", "orchestration:canceled-1"}
    since = datetime.fromisoformat(instances.queries[0]["createdTimeFrom"][0])
    assert abs(datetime.now(UTC) - timedelta(days=7) - since) < timedelta(minutes=5)


@pytest.mark.azurite
def test_the_poison_listing_sees_past_one_peek(archive: Archive) -> None:
    poison = queue_client(INGEST_POISON_QUEUE)
    for _ in range(45):
        poison.send_message("e30=")
    assert len(peek_poison(archive)) == 45
    listed = [f for f in failures(archive) if f.kind == "poison"]
    assert len(listed) == 45 and len({f.ref for f in listed}) == 45
    # Listing hid nothing: every message is visible again for the next reader.
    assert len(poison.peek_messages(max_messages=32)) == 32


@pytest.mark.azurite
def test_every_failure_kind_is_listed_and_labelled(archive: Archive) -> None:
    tables = table_service()
    kinds: tuple[FailureKind, ...] = (
        "quarantined", "deadletter", "reconcile_missing", "record_failed")
    for kind in kinds:
        write_failure(tables, failure_entity(
            kind, day=FAR_DAY, ref=f"{kind}-{uuid.uuid4().hex}", reason=f"{kind} reason",
            detail={"n": 1}))
    found = {f.kind: f for f in failures(archive) if f.day == FAR_DAY}
    assert set(kinds) <= set(found)
    for kind in kinds:
        assert found[kind].label == KIND_LABELS[kind]
        assert found[kind].to_json()["label"] == KIND_LABELS[kind]
    assert not found["quarantined"].replayable  # a forged body is never replayed


@pytest.mark.azurite
def test_a_dead_letter_is_listed_replayed_once_and_archived(archive: Archive) -> None:
    wamid = seed.new_wamid()
    envelope = seed.poison(webhooks.text_message(wamid, seed.new_customer(), 1_750_000_000))
    drain_poison(queue_client(INGEST_POISON_QUEUE),
                 blob_service().get_container_client(DEADLETTER_CONTAINER), table_service())
    assert peek_poison(archive) == []
    (letter,) = [f for f in failures(archive) if f.kind == "deadletter"
                 and f.detail.get("sha256") == envelope.sha256]
    assert letter.replayable and letter.label == KIND_LABELS["deadletter"]

    result = audited_replay(archive, ids=[letter.id])

    assert result.requeued == [letter.id]
    (message,) = archive.queue(INGEST_QUEUE).peek_messages(max_messages=32)
    assert message.expires_on is not None and message.expires_on.year == 9999
    assert seed.run_ingest_worker() == 1
    assert message_detail(archive, wamid).record is not None
    assert letter.id not in [f.id for f in failures(archive)]
    item = next(e.entry for e in recent_entries(archive) if e.entry["action"] == "replay_item")
    assert item["target"] == {"kind": "deadletter", "id": letter.row_key}
    with pytest.raises(AdminError, match="already resolved"):
        audited_replay(archive, ids=[letter.id])

