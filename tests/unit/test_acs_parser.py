"""The ACS (Event Grid) parser: every fixture, both schemas, identity, and never raising."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.acs.parser import (
    EVENT_RECEIVED,
    EVENT_STATUS,
    EVENT_VALIDATION,
    PROVIDER,
    VALIDATION_TYPE,
    parse_acs,
)
from archive.canonical import canonical_json
from archive.events import CanonicalEvent
from archive.identity import event_fingerprint, event_instance_id
from archive.index import STATUS_RANK
from archive.layout import media_blob_name, record_blob_name
from archive.parse_result import ParseResult
from archive.record import RawRef, build_record, record_bytes

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acs"
RECEIVED_AT = datetime(2024, 12, 6, 9, 0, tzinfo=UTC)
CHANNEL = "5f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
CUSTOMER = "16315551181"


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def parse(name: str) -> ParseResult:
    return parse_acs(raw(name), received_at=RECEIVED_AT)


def only(name: str) -> CanonicalEvent:
    result = parse(name)
    assert len(result.events) == 1, result.problems
    return result.events[0]


def test_every_fixture_parses_into_valid_records() -> None:
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) >= 19
    for name in names:
        result = parse(name)
        assert result.events, name
        for event in result.events:
            assert event.provider == PROVIDER
            _valid_downstream(event)


def test_text_received() -> None:
    event = only("text_received")
    assert (event.event, event.direction, event.type) == ("message", "inbound", "text")
    assert event.message_id == "a1b2c3d4-0001-4e5f-8a9b-0c1d2e3f4a50"
    assert (event.sender, event.recipient) == (CUSTOMER, CHANNEL)
    assert (event.business_id, event.customer_id) == (CHANNEL, CUSTOMER)
    assert event.content["text"] == "Please confirm the trade of 200 shares"
    assert event.content["event_type"] == EVENT_RECEIVED
    assert event.timestamp == datetime(2024, 12, 4, 23, 50, 11, tzinfo=UTC)
    assert event.fragment == json.loads(raw("text_received"))[0]["data"]
    assert parse("text_received").problems == ()


def test_the_same_event_in_either_schema_is_one_event() -> None:
    grid, cloud = only("text_received"), only("text_received_cloudevent")
    assert grid == cloud
    assert event_instance_id(grid) == event_instance_id(cloud)
    assert record_blob_name(grid) == record_blob_name(cloud)


def test_a_redelivery_is_the_same_event_and_another_receive_time_changes_nothing() -> None:
    first = parse_acs(raw("image_caption"), received_at=RECEIVED_AT).events
    again = parse_acs(raw("image_caption"), received_at=datetime(2025, 1, 1, tzinfo=UTC)).events
    assert first == again


def test_image_with_caption_refers_to_its_media_by_id() -> None:
    event = only("image_caption")
    assert (event.event, event.type) == ("message", "image")
    assert event.content["caption"] == "Signed form attached"
    (ref,) = event.media
    assert (ref.media_id, ref.mime_type, ref.kind) == (
        "7c1d2e3f-0002-4a5b-9c6d-7e8f9a0b1c2d", "image/jpeg", "image")
    assert ref.provider_sha256 is None
    assert media_blob_name(event, ref, "image/jpeg").endswith(
        "/acs/" + f"{CHANNEL}~~{CUSTOMER}/a1b2c3d4-0002-4e5f-8a9b-0c1d2e3f4a50/"
        "7c1d2e3f-0002-4a5b-9c6d-7e8f9a0b1c2d.jpg")


def test_document_keeps_its_file_name() -> None:
    event = only("document_cloudevent")
    assert event.type == "document"
    assert event.content["filename"] == "Account statement Q4.pdf"
    (ref,) = event.media
    assert (ref.kind, ref.filename, ref.mime_type) == (
        "document", "Account statement Q4.pdf", "application/pdf")


def test_voice_note_and_sticker() -> None:
    voice = only("voice")
    assert voice.type == "audio" and voice.media[0].mime_type == "audio/ogg; codecs=opus"
    sticker = only("sticker")
    assert sticker.type == "sticker" and sticker.content["animated"] is False


def test_reply_context() -> None:
    event = only("reply_context")
    assert event.content["context"] == {"from": CHANNEL,
                                        "id": "b2c3d4e5-1001-4f60-9a7b-8c9d0e1f2a3b"}
    assert event.content["referenced_message_id"] == "b2c3d4e5-1001-4f60-9a7b-8c9d0e1f2a3b"


def test_reaction() -> None:
    event = only("reaction")
    assert (event.event, event.type) == ("reaction", "reaction")
    assert event.content["reaction"] == {
        "message_id": "b2c3d4e5-1001-4f60-9a7b-8c9d0e1f2a3b", "emoji": "\U0001F44D"}
    assert event.content["reaction_removed"] is False


def test_interactive_replies_and_template_button() -> None:
    button = only("interactive_button_reply").content["interactive"]
    assert button == {"type": "button_reply", "id": "agree", "title": "Agree"}
    listed = only("interactive_list_reply_batch").content["interactive"]
    assert listed == {"type": "list_reply", "id": "priority_mail", "title": "Priority Mail",
                      "description": "1\u20133 Days"}
    template = only("button")
    assert template.type == "button"
    assert template.content["button"] == {"payload": "confirm-appointment", "text": "Yes"}


@pytest.mark.parametrize("name,value", [("status_sent", "sent"),
                                        ("status_delivered", "delivered"),
                                        ("status_read", "read")])
def test_statuses_map_onto_the_shared_lifecycle(name: str, value: str) -> None:
    event = only(name)
    assert (event.event, event.direction, event.type) == ("status", "outbound", "status")
    assert event.status is not None and event.status.value == value
    assert value in STATUS_RANK
    assert event.status.recipient == CUSTOMER
    assert (event.sender, event.recipient) == (CHANNEL, CUSTOMER)
    assert (event.business_id, event.customer_id) == (CHANNEL, CUSTOMER)
    assert event.content["event_type"] == EVENT_STATUS
    assert record_blob_name(event).endswith(f"-status-outbound-{value}.json")


def test_statuses_of_one_message_are_separate_events() -> None:
    ids = {event_instance_id(only(n)) for n in ("status_sent", "status_delivered", "status_read")}
    assert len(ids) == 3
    assert {only(n).message_id for n in ("status_sent", "status_delivered")} == {
        "b2c3d4e5-1001-4f60-9a7b-8c9d0e1f2a3b"}


def test_failed_status_keeps_its_error() -> None:
    event = only("status_failed_cloudevent")
    assert event.status is not None and event.status.value == "failed"
    assert event.status.errors == ({"code": "131026", "title": "Message Undeliverable."},)
    assert event.content["errors"] == [{"code": "131026", "title": "Message Undeliverable."}]
    assert event.fragment["error"] == {"channelCode": "131026",
                                       "channelMessage": "Message Undeliverable."}


def test_validation_event_is_a_system_event_without_its_one_time_url() -> None:
    result = parse("validation")
    (event,) = result.events
    assert (event.event, event.type) == ("system", VALIDATION_TYPE)
    assert event.content["event_type"] == EVENT_VALIDATION
    assert event.fragment["validationCode"] == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert "token=" not in json.dumps(event.to_dict())


def test_a_validation_event_inside_a_delivery_is_kept_beside_the_others() -> None:
    batch = json.loads(raw("validation")) + json.loads(raw("text_received"))
    result = parse_acs(json.dumps(batch).encode(), received_at=RECEIVED_AT)
    assert [(e.event, e.type) for e in result.events] == [
        ("system", VALIDATION_TYPE), ("message", "text")]
    assert result.events[0].message_id.startswith("validation-")


def test_unknown_event_type_is_archived_as_unknown() -> None:
    result = parse("unknown_event_type")
    (event,) = result.events
    assert event.event == "unknown"
    assert event.type == "unknown:event:Microsoft.Communication.AdvancedMessageAnalysisCompleted"
    assert event.fragment["intentAnalysis"] == "Transfer request"
    assert event.message_id.startswith("unknown-")
    assert result.problems == ("events[0]: event type not handled, archived as unknown",)


def test_other_channel_is_archived_as_unknown_in_its_conversation() -> None:
    result = parse("other_channel")
    (event,) = result.events
    assert (event.event, event.type) == ("unknown", "unknown:channel:sms")
    assert event.message_id == "a1b2c3d4-0011-4e5f-8a9b-0c1d2e3f4a50"
    assert (event.business_id, event.customer_id) == (CHANNEL, CUSTOMER)
    assert event.fragment["content"] == "STOP"
    assert result.problems


def test_batches_keep_every_event_in_order() -> None:
    result = parse("batch_mixed")
    assert [e.event for e in result.events] == ["status", "message", "unknown"]
    singles = [only("status_sent"), only("reply_context"), only("unknown_event_type")]
    assert list(result.events) == singles  # envelope ids differ; the events do not


def test_cloudevents_batch_of_several() -> None:
    batch = [json.loads(raw("document_cloudevent")), json.loads(raw("status_failed_cloudevent"))]
    result = parse_acs(json.dumps(batch).encode(), received_at=RECEIVED_AT)
    assert [e.type for e in result.events] == ["document", "status"]


def _event_grid(data: dict[str, Any], event_type: str = EVENT_RECEIVED,
                **envelope: Any) -> bytes:
    return json.dumps([{"id": "x", "eventType": event_type, "data": data,
                        "eventTime": "2024-12-04T10:00:00Z", **envelope}]).encode()


def test_missing_message_id_and_type_are_inferred_and_stable() -> None:
    data = {"channelType": "WhatsApp", "content": "Hello", "from": CUSTOMER, "to": CHANNEL,
            "receivedTimestamp": "2023-07-06T18:30:19+00:00"}
    first = parse_acs(_event_grid(data), received_at=RECEIVED_AT)
    (event,) = first.events
    assert (event.type, event.content["text"]) == ("text", "Hello")
    assert event.content["message_type_inferred"] is True
    assert event.message_id.startswith("noid-")
    assert first.problems == ("events[0]: event without messageId",)
    again = parse_acs(_event_grid(data, id="other-envelope"), received_at=RECEIVED_AT)
    assert again.events == first.events


def test_time_falls_back_to_event_time_then_receive_time() -> None:
    data = {"channelType": "whatsapp", "messageId": "m1", "messageType": "text",
            "content": "hi", "from": CUSTOMER, "to": CHANNEL}
    (event,) = parse_acs(_event_grid(data), received_at=RECEIVED_AT).events
    assert event.timestamp == datetime(2024, 12, 4, 10, tzinfo=UTC)
    assert event.content["timestamp_from_event_time"] is True
    body = json.dumps([{"eventType": EVENT_RECEIVED, "data": data}]).encode()
    (late,) = parse_acs(body, received_at=RECEIVED_AT).events
    assert late.timestamp == RECEIVED_AT and late.content["timestamp_missing"] is True
    (later,) = parse_acs(body, received_at=datetime(2030, 1, 1, tzinfo=UTC)).events
    assert event_instance_id(late) == event_instance_id(later)


def test_unknown_message_type_keeps_text_and_media() -> None:
    data = {"channelType": "whatsapp", "messageId": "m2", "messageType": "location_v2",
            "media": {"id": "md-1", "mimeType": "video/mp4"}, "content": "here",
            "from": CUSTOMER, "to": CHANNEL, "receivedTimestamp": "2024-12-04T10:00:00Z"}
    (event,) = parse_acs(_event_grid(data), received_at=RECEIVED_AT).events
    assert (event.event, event.type, event.content["text"]) == (
        "unknown", "unknown:location_v2", "here")
    assert [(m.media_id, m.kind) for m in event.media] == [("md-1", "video")]


@pytest.mark.parametrize("body,problem", [
    (b"\xff\xfe", "body is not valid UTF-8"),
    (b"{not json", "body is not valid JSON"),
    (b"42", "body is neither an event object nor an array of events"),
    (b"[" * 100 + b"]" * 100, "body nests too deeply"),
])
def test_bodies_that_are_not_events_yield_a_problem(body: bytes, problem: str) -> None:
    assert parse_acs(body, received_at=RECEIVED_AT) == ParseResult((), (problem,))


def test_odd_items_are_reported_and_objects_kept() -> None:
    body = json.dumps([7, {"hello": "world"}, {"eventType": EVENT_STATUS, "data": "text"},
                       {"specversion": "1.0", "type": EVENT_RECEIVED}]).encode()
    result = parse_acs(body, received_at=RECEIVED_AT)
    assert [e.type for e in result.events] == [
        "unknown:envelope", f"unknown:event:{EVENT_STATUS}", f"unknown:event:{EVENT_RECEIVED}"]
    assert result.events[0].fragment == {"hello": "world"}
    assert result.events[1].fragment == {"data": "text"}
    assert result.problems[0] == "events[0]: not an object"
    assert len(result.problems) == 7  # each of the three also has no usable time
    assert "world" not in " ".join(result.problems)


def test_a_naive_receive_time_is_not_used() -> None:
    body = json.dumps([{"eventType": EVENT_RECEIVED, "data": {}}]).encode()
    (event,) = parse_acs(body, received_at=datetime(2024, 1, 1)).events
    assert event.timestamp.tzinfo is not None


def _valid_downstream(event: CanonicalEvent) -> None:
    record = build_record(event, raw=RawRef("r", "0" * 64), received_at=RECEIVED_AT)
    assert record_bytes(record)
    name = record_blob_name(event)
    assert name.isascii() and not any(c in name for c in "\\?#")
    instance = event_instance_id(event)
    assert len(instance) <= 100 and instance.isascii() and not any(c in instance for c in "/\\?#")
    assert len(event_fingerprint(event)) == 64
    assert CanonicalEvent.from_dict(json.loads(canonical_json(event.to_dict()))) == event
    for ref in event.media:
        assert media_blob_name(event, ref, ref.mime_type).isascii()


def _check(body: bytes) -> None:
    result = parse_acs(body, received_at=RECEIVED_AT)
    assert all(isinstance(p, str) for p in result.problems)
    for event in result.events:
        _valid_downstream(event)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "eventType", "type", "specversion", "data", "eventTime", "time",
                         "messageId", "messageType", "channelType", "from", "to", "content",
                         "media", "context", "reaction", "interactive", "button", "status",
                         "error", "receivedTimestamp", "x"]) | st.text(max_size=8),
        children, max_size=5),
    max_leaves=30,
)
_text_or_json = st.text(max_size=30) | _json
_data = st.fixed_dictionaries({}, optional={
    "channelType": st.sampled_from(["whatsapp", "WhatsApp", "sms", ""]) | _json,
    "messageId": _text_or_json, "messageType": st.sampled_from(
        ["text", "image", "document", "audio", "voice", "video", "sticker", "reaction",
         "interactive", "button", "weird"]) | _json,
    "from": _text_or_json, "to": _text_or_json, "content": _text_or_json,
    "receivedTimestamp": st.sampled_from(["2024-12-04T23:50:11+00:00", "9999-12-31T23:59:59Z",
                                          "0001-01-01T00:00:00+14:00", "bad"]) | _json,
    "media": _json | st.fixed_dictionaries({}, optional={
        "id": _text_or_json, "mimeType": _text_or_json, "fileName": _text_or_json,
        "caption": _text_or_json}),
    "context": _json, "reaction": _json, "interactive": _json, "button": _json,
    "status": st.sampled_from(["Sent", "Delivered", "Read", "Failed", ""]) | _json,
    "error": _json,
})
_types = st.sampled_from([EVENT_RECEIVED, EVENT_STATUS, EVENT_VALIDATION, "Other.Event"]) | _json
_deliveries = st.lists(
    st.builds(lambda t, d: {"id": "1", "eventType": t, "data": d, "eventTime": "x"}, _types, _data)
    | st.builds(lambda t, d: {"specversion": "1.0", "type": t, "data": d}, _types, _data),
    max_size=4,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    _check(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_arbitrary_json_never_raises(value: object) -> None:
    _check(json.dumps(value).encode())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_deliveries)
def test_delivery_shaped_json_never_raises_and_keeps_every_object(value: list[Any]) -> None:
    result = parse_acs(canonical_json(value), received_at=RECEIVED_AT)
    assert len(result.events) == len(value)  # every event object is archived
    for event in result.events:
        _valid_downstream(event)


@settings(max_examples=200)
@given(st.data())
def test_mutated_fixture_bytes_never_raise(data: st.DataObject) -> None:
    body = bytearray(raw("batch_mixed"))
    for _ in range(data.draw(st.integers(1, 5))):
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    _check(bytes(body))
