"""The Table index on real Azurite: latest status never regresses; the five query shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from archive.index import failure_entity
from storage.clients import table_service
from storage.envelope import Envelope
from storage.index_reader import IndexReader
from storage.index_writer import write_failure
from tests.support import webhooks
from tests.support.envelopes import (
    meta_envelope,
    outbound_capture,
    outbound_envelope,
    store_envelope,
)
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

BUSINESS = webhooks.PHONE_NUMBER_ID
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> IndexReader:
    use_archive(monkeypatch, azurite_conn)
    return IndexReader(table_service())


def message(wamid: str, customer: str, ts: datetime, outbound: bool = False) -> Envelope:
    if outbound:
        body = outbound_capture(wamid, BUSINESS, customer, ts)
        return outbound_envelope(body, ts + timedelta(seconds=1))
    return meta_envelope(webhooks.body_of(
        webhooks.text_message(wamid, customer, int(ts.timestamp()), "x")
    ))


def status(wamid: str, customer: str, value: str, ts: datetime) -> Envelope:
    return meta_envelope(webhooks.body_of(
        webhooks.status(wamid, customer, value, int(ts.timestamp()))
    ))


def store(envelope: Envelope) -> list[dict[str, Any]]:
    """Signed body -> queue worker -> store_record, as the pipeline archives it."""
    return store_envelope(envelope)


def test_out_of_order_statuses_never_regress(reader: IndexReader) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    customer = f"+1555{uuid.uuid4().int % 10**7:07d}"
    store(message(wamid, customer, T0, outbound=True))
    store(status(wamid, customer, "read", T0 + timedelta(seconds=30)))
    first = reader.latest_status(wamid)
    assert first is not None and first["status"] == "read"

    store(status(wamid, customer, "delivered", T0 + timedelta(seconds=20)))
    store(status(wamid, customer, "sent", T0 + timedelta(seconds=10)))
    latest = reader.latest_status(wamid)
    assert latest is not None and latest["status"] == "read"

    events = [r for r in reader.by_message(wamid) if r["RowKey"] != "latest-status"]
    assert sorted(r.get("status") or r["event"] for r in events) == [
        "delivered", "message", "read", "sent"
    ]


def test_five_query_shapes(reader: IndexReader) -> None:
    customer = f"+4477{uuid.uuid4().int % 10**8:08d}"
    wamids = [f"wamid.{uuid.uuid4().hex}" for _ in range(5)]
    for minute, wamid in enumerate(wamids):
        store(message(wamid, customer, T0 + timedelta(minutes=minute)))
    store(status(wamids[0], customer, "read", T0 + timedelta(minutes=10)))

    # 1. by message: the message and its status together
    kinds = {r["event"] for r in reader.by_message(wamids[0]) if r["RowKey"] != "latest-status"}
    assert kinds == {"message", "status"}

    # 2. by participant and time range, newest first, paged
    first = reader.by_participant(
        customer, T0 + timedelta(minutes=1), T0 + timedelta(minutes=4), page_size=2
    )
    assert [r["message_id"] for r in first.rows] == [wamids[4], wamids[3]]
    assert first.continuation is not None
    second = reader.by_participant(
        customer, T0 + timedelta(minutes=1), T0 + timedelta(minutes=4),
        page_size=2, continuation=first.continuation,
    )
    assert [r["message_id"] for r in second.rows] == [wamids[2], wamids[1]]

    # 3. by conversation and time range (statuses stay out of timelines)
    conversation = reader.by_conversation(BUSINESS, customer, T0, T0 + timedelta(minutes=2))
    assert [r["message_id"] for r in conversation.rows] == [wamids[2], wamids[1], wamids[0]]

    # 4. by day: every event of that day, ours among them
    day_ids: set[str] = set()
    page = reader.by_day("2026-03-14", page_size=1000)
    while True:
        day_ids.update(str(r["message_id"]) for r in page.rows)
        if page.continuation is None:
            break
        page = reader.by_day("2026-03-14", page_size=1000, continuation=page.continuation)
    assert set(wamids) <= day_ids

    # 5. failures
    ref = f"tests/{uuid.uuid4().hex}"
    write_failure(table_service(), failure_entity(
        "unparseable", day="2026-03-14", ref=ref, reason="body is not valid JSON", detail={}
    ))
    failures = reader.failures("unparseable", since_day="2026-03-14", page_size=1000).rows
    assert any(r["ref"] == ref and r["reason"] == "body is not valid JSON" for r in failures)
