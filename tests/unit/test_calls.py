"""WhatsApp calls as first-class records (issue #19): parser, names, index, latest state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.canonical import canonical_json
from archive.events import CanonicalEvent, call_facts
from archive.identity import event_fingerprint, event_instance_id
from archive.index import (
    LATEST_STATUS_ROW,
    call_state_rank,
    index_entities,
    latest_status_entity,
    latest_status_of,
    latest_status_wins,
    message_key,
)
from archive.layout import record_blob_name
from archive.meta.calls import call_duration, call_time
from archive.meta.parser import parse_webhook
from archive.names import (
    TABLE_BY_DAY,
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
)
from archive.record import RawRef, build_record
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

BUSINESS = "106540352242922"
DISPLAY = "15550783881"
CUSTOMER = "16315551181"
USER_CALL = json.loads(fixture_bytes("calls_user_initiated_connect"))[
    "entry"][0]["changes"][0]["value"]["calls"][0]["id"]
BIZ_CALL = json.loads(fixture_bytes("calls_business_initiated"))[
    "entry"][0]["changes"][0]["value"]["calls"][0]["id"]
RAW = RawRef("year=2024/month=05/day=31/" + "a" * 64 + ".json", "a" * 64)
RECEIVED = datetime(2024, 6, 1, tzinfo=UTC)
T0 = datetime(2024, 5, 31, 16, 13, 20, tzinfo=UTC)
# The shape export transcripts and RSMF code against: exactly these keys.
CALL_KEYS = {"call_id", "direction", "event", "status", "start_time", "end_time", "duration",
             "biz_opaque_callback_data", "errors"}


def events_of(name: str, **kwargs: Any) -> tuple[CanonicalEvent, ...]:
    result = parse_webhook(fixture_bytes(name), **kwargs)
    assert result.problems == ()
    return result.events


def record_of(event: CanonicalEvent) -> dict[str, Any]:
    return build_record(event, raw=RAW, received_at=RECEIVED)


def doc_with(name: str, edit: Any) -> bytes:
    body = json.loads(fixture_bytes(name))
    edit(body["entry"][0]["changes"][0]["value"])
    return json.dumps(body).encode()


# --- parser -------------------------------------------------------------------------------

def test_user_initiated_connect_is_an_inbound_call() -> None:
    (event,) = events_of("calls_user_initiated_connect")
    assert (event.event, event.type, event.direction) == ("call", "call", "inbound")
    assert event.message_id == USER_CALL
    assert (event.sender, event.recipient) == (CUSTOMER, DISPLAY)
    assert (event.business_id, event.customer_id) == (BUSINESS, CUSTOMER)
    assert event.timestamp == datetime(2024, 5, 31, 16, 8, 37, tzinfo=UTC)
    call = event.content["call"]
    assert set(call) == CALL_KEYS
    assert call == {
        "call_id": USER_CALL, "direction": "user_initiated", "event": "connect",
        "status": None, "start_time": None, "end_time": None, "duration": None,
        "biz_opaque_callback_data": None, "errors": [],
    }
    assert event.content["contact"]["name"] == "Kerry Fisher"
    assert "errors" not in event.content  # only when there are errors
    # The SDP stays out of content (and so out of any index column), verbatim in the fragment.
    assert "sdp" not in json.dumps(event.content)
    assert event.fragment["session"]["sdp"].startswith("v=0\r\n")


def test_terminate_has_times_duration_status_and_callback_data() -> None:
    (event,) = events_of("calls_terminate")
    call = event.content["call"]
    assert (call["event"], call["status"]) == ("terminate", "completed")
    assert call["start_time"] == "2024-05-31T16:08:45Z"
    assert call["end_time"] == "2024-05-31T16:10:45Z"
    assert call["duration"] == 120 and isinstance(call["duration"], int)
    assert call["biz_opaque_callback_data"] == "case-4471"
    assert event.status is not None and event.status.value == "completed"


def test_business_initiated_connect_and_statuses_are_outbound() -> None:
    connect, ringing, accepted = events_of("calls_business_initiated")
    for event in (connect, ringing, accepted):
        assert (event.event, event.type, event.direction) == ("call", "call", "outbound")
        assert event.message_id == BIZ_CALL
        assert (event.business_id, event.customer_id) == (BUSINESS, CUSTOMER)
        assert event.content["call"]["direction"] == "business_initiated"
        assert event.content["call"]["biz_opaque_callback_data"] == "advisor-callback-88"
        assert set(event.content["call"]) == CALL_KEYS
    assert (connect.sender, connect.recipient) == (DISPLAY, CUSTOMER)
    assert connect.content["call"]["event"] == "connect"
    assert [(e.content["call"]["event"], e.content["call"]["status"])
            for e in (ringing, accepted)] == [("status", "ringing"), ("status", "accepted")]
    # A call status is addressed like a message status: business -> the user.
    assert (ringing.sender, ringing.recipient) == (DISPLAY, CUSTOMER)
    assert ringing.timestamp == accepted.timestamp  # the same second, on purpose


def test_failed_call_keeps_its_errors_on_the_record_not_as_a_webhook_error() -> None:
    (event,) = events_of("calls_failed")  # no system/webhook_error event, no problem
    call = event.content["call"]
    assert (call["event"], call["status"], call["duration"]) == ("terminate", "failed", 25)
    assert [e["code"] for e in call["errors"]] == [131000]
    # The same list where every other event keeps errors, and on the status object.
    assert event.content["errors"] == call["errors"]
    assert event.status is not None and list(event.status.errors) == call["errors"]


def test_errors_on_the_call_item_itself() -> None:
    def edit(value: dict[str, Any]) -> None:
        value["calls"][0]["errors"] = {"code": 138006, "title": "no permission"}
        value.pop("errors")

    (event,) = parse_webhook(doc_with("calls_failed", edit)).events
    assert [e["code"] for e in event.content["call"]["errors"]] == [138006]


def test_value_errors_without_calls_stay_webhook_errors() -> None:
    def edit(value: dict[str, Any]) -> None:
        value.pop("calls")

    result = parse_webhook(doc_with("calls_failed", edit))
    (event,) = result.events
    assert (event.event, event.type) == ("system", "webhook_error")
    assert any("131000" in p for p in result.problems)


def test_missing_direction_is_inferred_from_the_parties() -> None:
    def user(value: dict[str, Any]) -> None:
        value["calls"][0].pop("direction")

    (event,) = parse_webhook(doc_with("calls_user_initiated_connect", user)).events
    assert event.content["call"]["direction"] == "user_initiated"
    assert event.direction == "inbound"

    def business(value: dict[str, Any]) -> None:
        value["calls"][0].pop("direction")

    (event,) = parse_webhook(doc_with("calls_failed", business)).events
    assert event.content["call"]["direction"] == "business_initiated"
    assert event.direction == "outbound" and event.customer_id == CUSTOMER


def test_a_caller_without_from_is_the_sole_contact() -> None:
    def edit(value: dict[str, Any]) -> None:
        value["calls"][0].pop("from")

    (event,) = parse_webhook(doc_with("calls_user_initiated_connect", edit)).events
    assert (event.sender, event.customer_id, event.recipient) == (CUSTOMER, CUSTOMER, DISPLAY)
    assert event.content["contact"]["wa_id"] == CUSTOMER


def test_wrong_shapes_are_problems_and_still_archived() -> None:
    def edit(value: dict[str, Any]) -> None:
        call = value["calls"][0]
        call.pop("id")
        call["event"] = "HOLD"
        call["duration"] = "two minutes"
        call["start_time"] = "yesterday"
        call["status"] = {"value": "COMPLETED"}
        value["calls"].append("junk")

    result = parse_webhook(doc_with("calls_terminate", edit))
    (event,) = result.events
    call = event.content["call"]
    assert event.message_id.startswith("noid-") and call["call_id"] == event.message_id
    assert call["event"] == "hold"  # kept as sent, lowercase
    assert (call["duration"], call["start_time"], call["status"]) == (None, None, None)
    assert event.status is not None and event.status.value == "hold"
    assert any("call without id" in p for p in result.problems)
    assert any("'hold' not recognized" in p for p in result.problems)
    assert any("calls[1]: not an object" in p for p in result.problems)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(120, 120), ("120", 120), (120.0, 120), (0, 0), (True, None), (-1, None), ("1e3", None),
     (None, None), ([], None), (10**12, None)],
)
def test_duration_is_whole_seconds_or_absent(raw: object, expected: int | None) -> None:
    assert call_duration(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1717171725", "2024-05-31T16:08:45Z"), (1717171725, "2024-05-31T16:08:45Z"),
     ("2024-05-31T16:08:45+00:00", "2024-05-31T16:08:45Z"), ("2024-05-31T16:08:45", None),
     ("soon", None), (None, None), (True, None)],
)
def test_call_times_are_iso_utc(raw: object, expected: str | None) -> None:
    assert call_time(raw) == expected


def test_call_permission_reply_is_an_interactive_message_saying_what_it_is() -> None:
    (event,) = events_of("interactive_call_permission_reply")
    assert (event.event, event.type, event.direction) == ("message", "interactive", "inbound")
    reply = event.content["interactive"]
    assert reply == {
        "type": "call_permission_reply", "response": "accept", "is_permanent": False,
        "expiration_timestamp": 1717776500, "response_source": "user_action",
        "permission": "accepted", "expires_at": "2024-06-07T16:08:20Z",
        "title": "Call permission accepted (until 2024-06-07T16:08:20Z, source: user_action)",
    }
    assert event.content["referenced_message_id"].startswith("wamid.")


def test_call_permission_rejected_and_permanent() -> None:
    def reject(value: dict[str, Any]) -> None:
        value["messages"][0]["interactive"]["call_permission_reply"] = {
            "response": "reject", "response_source": "user_action"}

    (event,) = parse_webhook(doc_with("interactive_call_permission_reply", reject)).events
    reply = event.content["interactive"]
    assert (reply["permission"], reply["expires_at"]) == ("rejected", None)
    assert reply["title"] == "Call permission rejected (source: user_action)"

    def permanent(value: dict[str, Any]) -> None:
        value["messages"][0]["interactive"]["call_permission_reply"] = {
            "response": "accept", "is_permanent": True, "response_source": "automatic"}

    (event,) = parse_webhook(doc_with("interactive_call_permission_reply", permanent)).events
    assert event.content["interactive"]["title"] == (
        "Call permission accepted (permanent, source: automatic)")


def test_a_calls_list_inside_a_messages_change_is_still_unknown() -> None:
    (event,) = parse_webhook(fixture_bytes("unknown_value_key")).events
    assert event.type == "unknown:value:calls"


# --- records written before issue #19 ------------------------------------------------------

def test_legacy_parse_rebuilds_the_old_field_calls_system_record() -> None:
    """How the parser built a calls change before #19: one system event, the whole change."""
    body = fixture_bytes("calls_user_initiated_connect")
    (old,) = events_of("calls_user_initiated_connect", legacy_calls=True)
    change = json.loads(body)["entry"][0]["changes"][0]
    assert (old.event, old.type, old.direction) == ("system", "field:calls", "inbound")
    assert old.message_id.startswith("field-calls-")
    # Meta's calls webhooks carry no entry time, so the old record fell back to receipt.
    assert old.content == {"field": "calls", "timestamp_missing": True}
    assert old.fragment == change
    assert (old.sender, old.recipient, old.customer_id) == (None, None, "")
    assert old.status is None
    # A legacy record reads back, indexes and has no latest-state row.
    record = record_of(old)
    assert CanonicalEvent.from_dict(json.loads(canonical_json(old.to_dict()))) == old
    assert call_facts(record["content"]) == {}
    assert latest_status_entity(record, "p") is None
    assert index_entities(record, "p")[TABLE_BY_DAY][0]["type"] == "field:calls"
    # Value-level errors were webhook errors then, and stay so in the legacy parse.
    result = parse_webhook(fixture_bytes("calls_failed"), legacy_calls=True)
    assert [e.type for e in result.events] == ["field:calls", "webhook_error"]
    (reply,) = events_of("interactive_call_permission_reply", legacy_calls=True)
    assert set(reply.content["interactive"]) == {"type", "raw"}


# --- names and ids -------------------------------------------------------------------------

def test_record_names_tell_call_events_apart_within_one_second() -> None:
    connect, ringing, accepted = events_of("calls_business_initiated")
    (failed,) = events_of("calls_failed")
    names = [record_blob_name(e) for e in (connect, ringing, accepted, failed)]
    assert [n.rsplit("/", 1)[1] for n in names] == [
        "01717172000-call-outbound-connect.json",
        "01717172004-call-outbound-status-ringing.json",
        "01717172004-call-outbound-status-accepted.json",
        "01717172031-call-outbound-terminate-failed.json",
    ]
    assert len({n.rsplit("/", 1)[0] for n in names}) == 1  # one folder per call
    assert "/meta/106540352242922~~16315551181/wacid." in names[0]
    instance_ids = {event_instance_id(e) for e in (connect, ringing, accepted, failed)}
    assert len(instance_ids) == 4 and all(i.startswith("meta-call-") for i in instance_ids)
    # Connect and terminate of one call in the same second differ too.
    same_second = CanonicalEvent.from_dict({**failed.to_dict(),
                                            "timestamp": "2024-05-31T16:13:20Z"})
    assert record_blob_name(same_second) != record_blob_name(connect)


def test_redelivery_maps_to_the_same_names_and_fingerprints() -> None:
    for name in ("calls_user_initiated_connect", "calls_terminate", "calls_business_initiated",
                 "calls_failed", "interactive_call_permission_reply"):
        first, again = events_of(name), events_of(name)
        assert first == again
        assert [record_blob_name(e) for e in first] == [record_blob_name(e) for e in again]
        assert [event_fingerprint(e) for e in first] == [event_fingerprint(e) for e in again]


# --- record and index ----------------------------------------------------------------------

def test_call_record_shape() -> None:
    (event,) = events_of("calls_terminate")
    record = record_of(event)
    assert (record["event"], record["type"], record["message_id"]) == ("call", "call", USER_CALL)
    assert (record["from"], record["to"], record["direction"]) == (CUSTOMER, DISPLAY, "inbound")
    assert record["conversation"]["customer_id"] == CUSTOMER
    assert record["conversation"]["business_id"] == BUSINESS
    assert set(record["content"]["call"]) == CALL_KEYS
    assert record["status"]["value"] == "completed"
    assert record["fragment"]["event"] == "terminate"


def test_calls_are_indexed_for_participant_conversation_day_and_message() -> None:
    (event,) = events_of("calls_user_initiated_connect")
    record = record_of(event)
    rows = index_entities(record, "records/p.json")
    assert [r["PartitionKey"] for r in rows[TABLE_BY_MESSAGE]] == [message_key(USER_CALL)]
    assert {r["PartitionKey"] for r in rows[TABLE_BY_PARTICIPANT]} == {CUSTOMER, BUSINESS}
    # The conversation row sits in the customer's partition, under the business's prefix.
    assert [(r["PartitionKey"], r["RowKey"][:19]) for r in rows[TABLE_BY_PARTICIPANT]
            if r["RowKey"].startswith("c~")] == [(CUSTOMER, "c~106540352242922~~")]
    assert [r["PartitionKey"] for r in rows[TABLE_BY_DAY]] == ["2024-05-31"]
    for table_rows in rows.values():
        for row in table_rows:
            assert (row["type"], row["event"], row["status"]) == ("call", "call", "connect")
            assert "sdp" not in json.dumps(row)  # no session in any searchable column


def test_call_latest_state_row_round_trip() -> None:
    (event,) = events_of("calls_terminate")
    row = latest_status_entity(record_of(event), "records/t.json")
    assert row is not None and row["RowKey"] == LATEST_STATUS_ROW
    assert row["PartitionKey"] == message_key(USER_CALL)
    assert (row["status"], row["call_event"], row["call_status"]) == (
        "completed", "terminate", "completed")
    (connect,) = events_of("calls_user_initiated_connect")
    connect_row = latest_status_entity(record_of(connect), "records/c.json")
    assert connect_row is not None and "call_status" not in connect_row
    connected, terminated = latest_status_of(connect_row), latest_status_of(row)
    assert connected is not None and terminated is not None
    assert latest_status_wins(connected, terminated)
    assert not latest_status_wins(terminated, connected)


def _state(event: str, status: str | None, seconds: int) -> tuple[datetime, str]:
    row = {"status_timestamp": (T0 + timedelta(seconds=seconds)).isoformat(),
           "status": status or event, "call_event": event}
    if status:
        row["call_status"] = status
    found = latest_status_of(row)
    assert found is not None
    return found


def test_call_state_rank_order() -> None:
    assert (call_state_rank("connect", None) < call_state_rank("status", "ringing")
            < call_state_rank("status", "accepted") < call_state_rank("status", "rejected")
            < call_state_rank("terminate", "completed"))
    assert call_state_rank("terminate", None) == call_state_rank("terminate", "failed")
    assert call_state_rank("status", "mystery") == 0 == call_state_rank("hold", None)


@pytest.mark.parametrize(
    ("current", "candidate", "wins"),
    [
        (None, _state("connect", None, 0), True),
        (_state("status", "ringing", 4), _state("status", "accepted", 4), True),  # same second
        (_state("status", "accepted", 4), _state("status", "ringing", 4), False),
        (_state("terminate", "failed", 31), _state("status", "accepted", 40), False),
        (_state("terminate", "failed", 31), _state("connect", None, 50), False),
        (_state("status", "accepted", 4), _state("terminate", "failed", 1), True),  # skewed
        (_state("terminate", "failed", 31), _state("terminate", "failed", 35), True),
        (_state("status", "ringing", 4), _state("status", "mystery", 9), False),
    ],
)
def test_latest_call_state_never_regresses(current: tuple[datetime, str] | None,
                                           candidate: tuple[datetime, str], wins: bool) -> None:
    assert latest_status_wins(current, candidate) is wins


@given(st.permutations([_state("connect", None, 0), _state("status", "ringing", 4),
                        _state("status", "accepted", 4), _state("terminate", "failed", 31)]))
def test_any_arrival_order_ends_at_terminate(order: list[tuple[datetime, str]]) -> None:
    shown: tuple[datetime, str] | None = None
    for candidate in order:
        if latest_status_wins(shown, candidate):
            shown = candidate
    assert shown == _state("terminate", "failed", 31)


def test_message_statuses_rank_as_before() -> None:
    t = datetime(2024, 5, 31, tzinfo=UTC)
    assert not latest_status_wins((t, "read"), (t + timedelta(seconds=5), "delivered"))
    assert latest_status_wins((t, "sent"), (t, "failed"))
