"""Index writes batched per table partition, on a real Azurite (issue 14).

A text message: four calls (the customer's row and the conversation row in one
transaction). A status: the latest-status read, then one transaction holding its
by-message row and the latest-status create/replace; a race makes the whole
transaction fail and the round start again, and the shown status never regresses.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from archive.events import conversation_key_of
from archive.index import (
    CONVERSATION_ROW_PREFIX,
    LATEST_STATUS_ROW,
    index_entities,
    message_key,
    participant_key,
)
from archive.names import TABLE_BY_MESSAGE, TABLE_BY_PARTICIPANT, TABLE_BY_TERM
from devhost.azurite import Azurite
from storage.disposal import _delete_rows
from storage.index_reader import IndexReader
from storage.index_writer import write_index
from storage.provision import ensure_archive_resources

pytestmark = pytest.mark.azurite

BUSINESS = "106540352242922"
CALLS = ("upsert_entity", "submit_transaction", "get_entity", "create_entity",
         "update_entity")


@pytest.fixture(scope="module")
def tables(azurite: Azurite) -> Iterator[TableServiceClient]:
    ensure_archive_resources(azurite.connection_string)
    yield TableServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every Table call the writer makes, by method (one each is one storage request)."""
    counted: Counter[str] = Counter()
    for name in CALLS:
        original = getattr(TableClient, name)

        def wrapper(self: TableClient, *args: Any, _name: str = name, _original: Any = original,
                    **kwargs: Any) -> Any:
            counted[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TableClient, name, wrapper)
    return counted


def record(message_id: str, customer: str, *, event: str = "message", status: str | None = None,
           ts: str = "2026-03-01T10:00:00Z", business: str = BUSINESS) -> dict[str, Any]:
    return {
        "event": event, "direction": "outbound" if status else "inbound", "type": "text",
        "provider": "meta", "message_id": message_id, "timestamp": ts,
        "from": business if status else customer, "to": customer if status else business,
        "conversation": {"business_id": business, "customer_id": customer,
                         "key": conversation_key_of(business, customer)},
        "status": {"value": status} if status else None,
        "media": [], "fingerprint": uuid.uuid4().hex * 2,
    }


def test_text_message_is_four_calls_and_the_conversation_reads_back(
    tables: TableServiceClient, calls: Counter[str]
) -> None:
    customer = f"+1555{uuid.uuid4().int % 10**7:07d}"
    other_business = f"9{uuid.uuid4().int % 10**8}"
    mine = record(f"wamid.{uuid.uuid4().hex}", customer)
    assert write_index(tables, mine, "records/mine.json") == (5, False)
    assert calls == {"upsert_entity": 3, "submit_transaction": 1}
    # The same customer with another business: another conversation, same partition.
    theirs = record(f"wamid.{uuid.uuid4().hex}", customer, business=other_business,
                    ts="2026-03-01T11:00:00Z")
    write_index(tables, theirs, "records/theirs.json")

    reader = IndexReader(tables)
    conversation = reader.by_conversation(BUSINESS, customer).rows
    assert [r["record_path"] for r in conversation] == ["records/mine.json"]
    assert conversation[0]["RowKey"].startswith(f"{CONVERSATION_ROW_PREFIX}{BUSINESS}~~")
    assert [r["record_path"] for r in reader.by_conversation(other_business, customer).rows] == [
        "records/theirs.json"]
    # The customer's own timeline holds each message once: no conversation row in it.
    timeline = reader.by_participant(customer).rows
    assert [r["record_path"] for r in timeline] == ["records/theirs.json", "records/mine.json"]
    partition = tables.get_table_client(TABLE_BY_PARTICIPANT).query_entities(
        f"PartitionKey eq '{participant_key(customer)}'")
    assert len(list(partition)) == 4  # two timeline rows, two conversation rows


def test_retention_deletes_the_conversation_row_with_the_others(
    tables: TableServiceClient
) -> None:
    """Disposal deletes what index_entities names, so the `c~` row goes too."""
    customer = f"+4477{uuid.uuid4().int % 10**8:08d}"
    doc = record(f"wamid.{uuid.uuid4().hex}", customer)
    write_index(tables, doc, "records/gone.json")
    rows = [(t, e["PartitionKey"], e["RowKey"])
            for t, entities in index_entities(doc, "records/gone.json").items() for e in entities]
    assert any(r[2].startswith(CONVERSATION_ROW_PREFIX) for r in rows)
    assert _delete_rows(tables, rows) == 5
    left = tables.get_table_client(TABLE_BY_PARTICIPANT).query_entities(
        f"PartitionKey eq '{participant_key(customer)}'")
    assert list(left) == []
    assert IndexReader(tables).by_conversation(BUSINESS, customer).rows == []


def _latest(tables: TableServiceClient, wamid: str) -> dict[str, Any] | None:
    return IndexReader(tables).latest_status(wamid)


def test_status_is_three_calls_row_and_latest_status_in_one_transaction(
    tables: TableServiceClient, calls: Counter[str]
) -> None:
    wamid, customer = f"wamid.{uuid.uuid4().hex}", "+15550000001"
    sent = record(wamid, customer, event="status", status="sent", ts="2026-03-01T10:00:05Z")
    assert write_index(tables, sent, "records/sent.json") == (2, True)
    # By-day upsert, latest-status read (404), one transaction (row + create).
    assert calls == {"upsert_entity": 1, "get_entity": 1, "submit_transaction": 1}
    calls.clear()
    read = record(wamid, customer, event="status", status="read", ts="2026-03-01T10:00:09Z")
    assert write_index(tables, read, "records/read.json") == (2, True)
    assert calls == {"upsert_entity": 1, "get_entity": 1, "submit_transaction": 1}
    calls.clear()
    late = record(wamid, customer, event="status", status="delivered", ts="2026-03-01T10:00:07Z")
    assert write_index(tables, late, "records/delivered.json") == (2, False)
    # It does not win: its row alone, still one call.
    assert calls == {"upsert_entity": 2, "get_entity": 1}
    latest = _latest(tables, wamid)
    assert latest is not None and latest["status"] == "read"
    events = {r["record_path"] for r in IndexReader(tables).by_message(wamid)
              if r["RowKey"] != LATEST_STATUS_ROW}
    assert events == {"records/sent.json", "records/read.json", "records/delivered.json"}


def _interfere_once(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> list[int]:
    """Run `action` just before the writer's first transaction (between read and write)."""
    sent: list[int] = []
    original = TableClient.submit_transaction

    def submit(self: TableClient, operations: Any, **kwargs: Any) -> Any:
        ops = list(operations)
        if not sent:
            action()
        sent.append(len(ops))
        return original(self, ops, **kwargs)

    monkeypatch.setattr(TableClient, "submit_transaction", submit)
    return sent


def test_etag_race_fails_the_whole_transaction_and_the_next_round_decides(
    tables: TableServiceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    wamid, customer = f"wamid.{uuid.uuid4().hex}", "+15550000002"
    write_index(tables, record(wamid, customer, event="status", status="sent",
                               ts="2026-03-01T10:00:05Z"), "records/sent.json")
    table = tables.get_table_client(TABLE_BY_MESSAGE)
    delivered = record(wamid, customer, event="status", status="delivered",
                       ts="2026-03-01T10:00:07Z")
    row_key = index_entities(delivered, "x")[TABLE_BY_MESSAGE][0]["RowKey"]

    def a_read_lands_first() -> None:
        current = table.get_entity(message_key(wamid), LATEST_STATUS_ROW)
        table.update_entity(
            {**current, "status": "read", "status_timestamp": "2026-03-01T10:00:09Z",
             "record_path": "records/read.json"},
            mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
            match_condition=MatchConditions.IfNotModified)
        # Nothing of the doomed transaction may be applied: check when it has failed.

    sent = _interfere_once(monkeypatch, a_read_lands_first)
    assert write_index(tables, delivered, "records/delivered.json") == (2, False)
    # Round 1: row + replace (If-Match, stale) failed as a whole; round 2: the row alone.
    assert sent == [2]
    latest = _latest(tables, wamid)
    assert latest is not None and latest["status"] == "read"
    assert table.get_entity(message_key(wamid), row_key)["record_path"] == "records/delivered.json"


def test_create_race_fails_the_transaction_atomically_and_retries(
    tables: TableServiceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    wamid, customer = f"wamid.{uuid.uuid4().hex}", "+15550000003"
    table = tables.get_table_client(TABLE_BY_MESSAGE)
    delivered = record(wamid, customer, event="status", status="delivered",
                       ts="2026-03-01T10:00:07Z")
    row_key = index_entities(delivered, "x")[TABLE_BY_MESSAGE][0]["RowKey"]
    seen_after_failure: list[bool] = []

    def a_sent_is_created_first() -> None:
        table.create_entity({"PartitionKey": message_key(wamid), "RowKey": LATEST_STATUS_ROW,
                             "status": "sent", "status_timestamp": "2026-03-01T10:00:05Z",
                             "record_path": "records/sent.json", "fingerprint": "f"})

    original_get = TableClient.get_entity

    def get(self: TableClient, partition_key: str, row_key_: str, **kwargs: Any) -> Any:
        if seen_after_failure == [] and sent:
            # Second round: the failed create took the row upsert down with it.
            rows = {e["RowKey"] for e in self.query_entities(
                f"PartitionKey eq '{message_key(wamid)}'")}
            seen_after_failure.append(row_key in rows)
        return original_get(self, partition_key, row_key_, **kwargs)

    sent = _interfere_once(monkeypatch, a_sent_is_created_first)
    monkeypatch.setattr(TableClient, "get_entity", get)
    assert write_index(tables, delivered, "records/delivered.json") == (2, True)
    assert sent == [2, 2]  # create (409: all of it rolled back), then replace with If-Match
    assert seen_after_failure == [False]
    latest = _latest(tables, wamid)
    assert latest is not None and latest["status"] == "delivered"


def test_concurrent_statuses_end_at_the_furthest_one(tables: TableServiceClient) -> None:
    """Parallel activities, one message: every row written, the shown status never regresses."""
    wamid, customer = f"wamid.{uuid.uuid4().hex}", "+15550000004"
    values = ["sent", "delivered", "read", "sent", "delivered", "read", "played", "delivered"]
    docs = [record(wamid, customer, event="status", status=v, ts=f"2026-03-01T10:00:{i:02d}Z")
            for i, v in enumerate(values)]
    start = threading.Barrier(len(docs))
    errors: list[BaseException] = []

    def run(doc: dict[str, Any], index: int) -> None:
        start.wait()
        try:
            write_index(tables, doc, f"records/s{index}.json")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d, i)) for i, d in enumerate(docs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    latest = _latest(tables, wamid)
    assert latest is not None and latest["status"] == "played"
    events = {r["record_path"] for r in IndexReader(tables).by_message(wamid)
              if r["RowKey"] != LATEST_STATUS_ROW}
    assert events == {f"records/s{i}.json" for i in range(len(docs))}


def test_a_text_writes_one_upsert_per_distinct_word_and_a_term_failure_raises(
    tables: TableServiceClient, calls: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyword search: each distinct word is its own partition, so its own upsert (sent in
    parallel); a failed one fails the write, so the activity retries (upserts repeat)."""
    customer = f"+1555{uuid.uuid4().int % 10**7:07d}"
    words = record(f"wamid.{uuid.uuid4().hex}", customer)
    words["content"] = {"text": "Sell sell ACME now, sell"}  # three distinct words
    assert write_index(tables, words, "records/words.json") == (8, False)
    # The since marker is created once per process, by its first record with words.
    assert calls.pop("create_entity", 0) <= 1
    assert calls == {"upsert_entity": 6, "submit_transaction": 1}
    terms = tables.get_table_client(TABLE_BY_TERM)
    for word in ("sell", "acme", "now"):
        (row,) = terms.query_entities(f"PartitionKey eq '{word}' and "
                                      f"message_id eq '{words['message_id']}'")
        assert row["record_path"] == "records/words.json"

    original = TableClient.upsert_entity

    def refuse_acme(self: TableClient, entity: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self.table_name == TABLE_BY_TERM and entity["PartitionKey"] == "acme":
            raise HttpResponseError("storage refused the term row")
        return original(self, entity, *args, **kwargs)

    monkeypatch.setattr(TableClient, "upsert_entity", refuse_acme)
    with pytest.raises(HttpResponseError):
        write_index(tables, words, "records/words.json")
