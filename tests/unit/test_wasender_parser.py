"""The WASender parser: documented shapes and quirks, and Hypothesis on arbitrary input."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.canonical import canonical_json
from archive.events import CanonicalEvent
from archive.identity import event_fingerprint, event_instance_id
from archive.layout import media_blob_name, record_blob_name
from archive.record import RawRef, build_record, record_bytes
from archive.wasender.media import NotThisEvent, decrypt_request, public_url_of
from archive.wasender.parser import MESSAGE_EVENTS, SYSTEM_EVENTS, parse_wasender
from archive.wasender.parties import BUSINESS
from tests.support.wasender_api import FIXTURE_MEDIA, whatsapp_sha256

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wasender"
RECEIVED = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
T0 = datetime(2024, 5, 31, 16, 8, 37, tzinfo=UTC)  # 1717171717
CUSTOMER = "16315551181"
GROUP = "120363041234567890@g.us"
SESSION_KEY = "sess-key-not-a-real-one-0001"  # what the fixtures carry as sessionId


def names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def doc(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(raw(name))
    return loaded


def parse(value: bytes | dict[str, Any]) -> tuple[tuple[CanonicalEvent, ...], tuple[str, ...]]:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    result = parse_wasender(body, received_at=RECEIVED)
    return result.events, result.problems


def one(value: str | dict[str, Any]) -> CanonicalEvent:
    events, problems = parse(raw(value) if isinstance(value, str) else value)
    assert problems == ()
    assert len(events) == 1
    return events[0]


def check_valid(event: CanonicalEvent) -> None:
    """What the pipeline needs of every event: it serialises, names and records cleanly."""
    assert event.provider == "wasender" and event.timestamp.tzinfo is not None
    assert CanonicalEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event
    record = build_record(event, raw=RawRef("r", "0" * 64), received_at=RECEIVED)
    assert record_bytes(record)
    name = record_blob_name(event)
    assert name.isascii() and not any(c in name for c in "\\?#")
    assert "/wasender/" in name
    instance = event_instance_id(event)
    assert instance.startswith("wasender-") and len(instance) <= 100 and instance.isascii()
    for ref in event.media:
        assert media_blob_name(event, ref, ref.mime_type).isascii()


@pytest.mark.parametrize("name", names())
def test_every_fixture_parses_to_valid_events_without_the_session_key(name: str) -> None:
    events, problems = parse(raw(name))
    assert events
    if name != "unknown_event":
        assert problems == ()
    for event in events:
        check_valid(event)
        assert event.fragment
        assert event.business_id == BUSINESS
        # sessionId is documented as the session API key: no record may hold it.
        assert SESSION_KEY not in canonical_json(event.to_dict()).decode()


def test_upsert_and_received_of_one_message_are_one_event() -> None:
    received, upserted = one("received_text"), one("upsert_text")
    assert doc("received_text")["timestamp"] != doc("upsert_text")["timestamp"]
    assert received == upserted
    assert event_instance_id(received) == event_instance_id(upserted)
    assert record_blob_name(received) == record_blob_name(upserted)
    assert event_fingerprint(received) == event_fingerprint(upserted)


def test_upsert_and_received_without_a_message_time_still_match() -> None:
    item = doc("received_text")["data"]["messages"]
    del item["messageTimestamp"]
    a = one({"event": "messages.received", "timestamp": 1717171717, "data": {"messages": item}})
    b = one({"event": "messages.upsert", "timestamp": 1717171717, "data": {"messages": [item]}})
    assert event_instance_id(a) == event_instance_id(b)
    assert record_blob_name(a) == record_blob_name(b)


def test_inbound_text() -> None:
    event = one("received_text")
    assert (event.event, event.direction, event.type) == ("message", "inbound", "text")
    assert event.content["text"] == "Please sell 100 shares of ACME at market."
    assert event.content["contact"] == {"name": "Kerry Fisher"}
    assert event.message_id == "3EB0C767D26A1B4A1D41"
    assert (event.sender, event.recipient, event.customer_id) == (CUSTOMER, BUSINESS, CUSTOMER)
    assert event.timestamp == T0
    assert event.fragment == doc("received_text")["data"]["messages"]


@pytest.mark.parametrize(
    ("name", "kind", "extra"),
    [
        ("image_caption", "image", {"caption": "Signed form"}),
        ("video", "video", {"caption": "walkthrough"}),
        ("document", "document", {"filename": "statement Q3.pdf"}),
        ("voice_note", "audio", {"voice": True}),
        ("sticker", "sticker", {"animated": False}),
    ],
)
def test_media_kinds(name: str, kind: str, extra: dict[str, object]) -> None:
    event = one(name)
    assert (event.event, event.type) == ("message", kind)
    (ref,) = event.media
    data, mime = FIXTURE_MEDIA[event.message_id]
    assert ref.kind == kind and ref.mime_type == mime
    assert ref.media_id == f"{event.message_id}-{kind}"
    assert ref.provider_sha256 == whatsapp_sha256(data)
    assert event.content["file_length"] == len(data)
    for key, value in extra.items():
        assert event.content[key] == value
    assert ref.filename == ("statement Q3.pdf" if kind == "document" else None)


def test_fixture_media_matches_the_stand_in_bytes() -> None:
    for name in ("image_caption", "video", "document", "voice_note", "sticker"):
        event = one(name)
        data, _ = FIXTURE_MEDIA[event.message_id]
        digest = base64.b64decode(str(event.media[0].provider_sha256))
        assert digest == hashlib.sha256(data).digest()


def test_wrapped_media_and_flags() -> None:
    body = doc("document")
    item = body["data"]["messages"]
    inner = item["message"]
    item["message"] = {"ephemeralMessage": {"message": {"viewOnceMessageV2": {"message": {
        "documentWithCaptionMessage": {"message": inner}}}}},
        "messageContextInfo": {"deviceListMetadataVersion": 2}}
    event = one(body)
    assert event.type == "document" and event.media[0].kind == "document"
    assert event.content["ephemeral"] is True and event.content["view_once"] is True
    assert decrypt_request(event, event.media[0]).body["data"]["messages"]["message"]


def test_video_note_is_decrypted_as_a_video_and_keyless_media_is_flagged() -> None:
    body = doc("video")
    item = body["data"]["messages"]
    item["message"] = {"ptvMessage": item["message"]["videoMessage"]}
    event = one(body)
    assert event.type == "video" and event.content["video_note"] is True
    message = decrypt_request(event, event.media[0]).body["data"]["messages"]["message"]
    assert list(message) == ["videoMessage"]
    del item["message"]["ptvMessage"]["mediaKey"]
    keyless = one(body)
    assert keyless.media == () and keyless.content["media_not_downloadable"] is True


def test_group_message() -> None:
    event = one("group_text")
    assert event.sender == "16315551182"  # cleanedParticipantPn, not the lid
    assert event.customer_id == GROUP and event.recipient == BUSINESS
    assert event.content["group_id"] == GROUP


def test_lid_sender_uses_the_phone_and_keeps_a_bare_lid() -> None:
    with_phone = one("lid_sender")
    assert with_phone.sender == "16315559876" and with_phone.customer_id == "16315559876"
    lid_only = one("lid_only")
    assert lid_only.sender == "284618907398224@lid"
    assert lid_only.customer_id == "284618907398224@lid"


def test_reply_quotes() -> None:
    event = one("reply")
    assert event.content["referenced_message_id"] == "3EB0OUT0000000000001"
    assert event.content["context"] == {"id": "3EB0OUT0000000000001", "from": "15550783881"}
    assert event.content["quoted"] == {"type": "text",
                                       "text": "Shall we execute the ACME order at market?"}
    assert event.content["text"] == "Yes, at market please."


def test_reactions_from_both_event_shapes() -> None:
    event = one("reaction")
    assert (event.event, event.type, event.message_id) == ("reaction", "reaction",
                                                          "3EB0REACT00000000001")
    assert event.content["reaction"] == {"message_id": "3EB0C767D26A1B4A1D41",
                                         "emoji": "\U0001f44d"}
    assert event.content["reaction_removed"] is False
    assert event.timestamp == T0 + timedelta(seconds=60)
    upserted = one("reaction_upsert")
    assert upserted.event == "reaction"
    assert upserted.content["referenced_message_id"] == "3EB0OUT0000000000001"
    removed = doc("reaction")
    removed["data"][0]["reaction"]["text"] = ""
    assert one(removed).content["reaction_removed"] is True


def test_edit_from_protocol_message_in_every_spelling() -> None:
    event = one("edit")
    assert (event.event, event.type) == ("edit", "edit")
    assert event.content["original_message_id"] == "3EB0C767D26A1B4A1D41"
    assert event.content["edited"] == {"type": "text",
                                       "text": "Please sell 150 shares of ACME at market."}
    body = doc("edit")
    item = body["data"]["messages"][0]
    protocol = item["message"]["protocolMessage"]
    protocol["type"] = "MESSAGE_EDIT"
    item["message"] = {"editedMessage": {"message": {"protocolMessage": protocol}}}
    assert one(body).content == event.content


def test_edit_reported_as_a_message_update() -> None:
    event = one({"event": "messages.update", "timestamp": 1717171800000, "data": [{
        "key": {"remoteJid": f"{CUSTOMER}@s.whatsapp.net", "id": "ORIG1", "fromMe": False},
        "update": {"message": {"editedMessage": {"message": {"protocolMessage": {
            "key": {"id": "ORIG1"}, "type": 14,
            "editedMessage": {"conversation": "new text"}}}}}}}]})
    assert (event.event, event.message_id) == ("edit", "ORIG1")
    assert event.content["edited"]["text"] == "new text"


def test_revoke_and_delete() -> None:
    revoke = one("revoke")
    assert (revoke.event, revoke.type) == ("delete", "revoke")
    assert revoke.content["original_message_id"] == "3EB0R1E2P3L4Y5A6B7C8"
    deleted = one("messages_delete")
    assert (deleted.event, deleted.type, deleted.message_id) == ("delete", "revoke",
                                                                "3EB0G1A2B3C4D5E6F7A8")
    assert deleted.customer_id == GROUP
    stub = one({"event": "messages.update", "timestamp": 1717171800, "data": {
        "key": {"remoteJid": f"{CUSTOMER}@s.whatsapp.net", "id": "GONE", "fromMe": False},
        "update": {"message": None, "messageStubType": 1}}})
    assert (stub.event, stub.message_id) == ("delete", "GONE")


@pytest.mark.parametrize(
    ("raw_status", "value"),
    [(0, "failed"), (1, "pending"), (2, "sent"), (3, "delivered"), (4, "read"), (5, "played"),
     ("3", "delivered"), ("ERROR", "failed"), ("SERVER_ACK", "sent"),
     ("DELIVERY_ACK", "delivered"), ("read", "read"), ("PLAYED", "played")],
)
def test_status_codes(raw_status: object, value: str) -> None:
    body = doc("status_delivered")
    body["data"]["update"]["status"] = raw_status
    event = one(body)
    assert event.status is not None and event.status.value == value
    assert event.content["provider_status"] == raw_status


def test_statuses_in_milliseconds_and_as_a_list() -> None:
    delivered = one("status_delivered")
    assert (delivered.event, delivered.direction) == ("status", "outbound")
    assert delivered.status is not None and delivered.status.recipient == CUSTOMER
    assert delivered.timestamp == T0 + timedelta(seconds=110, milliseconds=250)
    events, problems = parse(raw("status_list"))
    assert problems == ()
    assert [e.status.value for e in events if e.status] == ["sent", "played"]


def test_unrecognized_status_is_kept_and_listed() -> None:
    body = doc("status_delivered")
    body["data"]["update"]["status"] = 9
    events, problems = parse(body)
    assert events[0].status is not None and events[0].status.value == "unknown"
    assert problems == ("data: status value not recognized",)


def test_receipts_per_group_member() -> None:
    single = one("receipt_group")
    assert single.status is not None
    assert (single.status.value, single.status.recipient) == ("read", "16315551182")
    assert single.customer_id == GROUP and single.timestamp == T0 + timedelta(seconds=150)
    events, problems = parse(raw("receipts_group_list"))
    assert problems == ()
    assert [(e.status.value, e.status.recipient, e.timestamp - T0) for e in events
            if e.status] == [
        ("delivered", "16315551183", timedelta(seconds=145)),
        ("read", "208452003451299@lid", timedelta(seconds=158)),  # the furthest timestamp
    ]
    assert len({record_blob_name(e) for e in events}) == 2


def test_message_sent_outbound_and_failed() -> None:
    sent = one("message_sent")
    assert (sent.event, sent.direction) == ("message", "outbound")
    assert (sent.sender, sent.recipient, sent.customer_id) == (BUSINESS, CUSTOMER, CUSTOMER)
    events, problems = parse(raw("message_sent_failed"))
    assert problems == ()
    message, status = events
    assert message.content["send_failed"] is True and message.event == "message"
    assert status.status is not None and status.status.value == "failed"
    assert status.status.errors == ({"title": "Recipient is not on WhatsApp"},)
    outbound = one("upsert_outbound")
    assert outbound.direction == "outbound" and outbound.customer_id == CUSTOMER


def test_timestamps_as_strings_and_milliseconds() -> None:
    assert one("timestamps_strings").timestamp == T0 + timedelta(seconds=180)
    assert one("timestamps_ms").timestamp == T0 + timedelta(seconds=185, milliseconds=42)
    body = doc("received_text")
    body["data"]["messages"]["messageTimestamp"] = {"low": 1717171717, "high": 0,
                                                   "unsigned": True}
    assert one(body).timestamp == T0


def test_missing_time_falls_back_to_receipt_and_stays_out_of_the_fingerprint() -> None:
    body = doc("received_text")
    del body["timestamp"]
    del body["data"]["messages"]["messageTimestamp"]
    event = one(body)
    assert event.timestamp == RECEIVED and event.content["timestamp_missing"] is True
    later = parse_wasender(json.dumps(body).encode(), received_at=RECEIVED + timedelta(hours=1))
    assert event_instance_id(later.events[0]) == event_instance_id(event)


def test_account_events_are_system_records() -> None:
    session = one("session_status")
    assert (session.event, session.type) == ("system", "event:session.status")
    assert session.content["session"] == {"status": "connected"}
    assert "sessionId" not in session.fragment
    call = one("call")
    assert (call.event, call.type, call.customer_id) == ("system", "event:call", CUSTOMER)


def test_unknown_event_is_archived_with_its_fragment() -> None:
    events, problems = parse(raw("unknown_event"))
    (event,) = events
    assert (event.event, event.type) == ("unknown", "unknown:event:labels.association")
    assert event.fragment["data"] == doc("unknown_event")["data"]
    assert "sessionId" not in event.fragment
    assert problems == ("event 'labels.association' not recognized; archived as unknown",)


def test_newsletter_item_is_data_itself() -> None:
    event = one("newsletter")
    assert event.customer_id == "120363312345678901@newsletter"
    assert event.content["text"] == "Markets close early on Friday."


def test_non_object_items_are_problems_by_path_and_the_rest_is_kept() -> None:
    body = doc("upsert_text")
    body["data"]["messages"] = [7, body["data"]["messages"][0], "x"]
    events, problems = parse(body)
    assert len(events) == 1
    assert problems == ("data.messages[0]: not an object", "data.messages[2]: not an object")


def test_shapes_without_items_and_unknown_content() -> None:
    events, problems = parse({"event": "messages.upsert", "timestamp": 1717171717, "data": 5})
    assert [e.event for e in events] == ["unknown"] and len(problems) == 1
    events, problems = parse({"timestamp": 1717171717, "data": {}})
    assert [e.type for e in events] == ["unknown:event"] and len(problems) == 1
    body = doc("received_text")
    body["data"]["messages"]["message"] = {"pollCreationMessageV9": {"name": "?"}}
    event = one(body)
    assert (event.event, event.type) == ("unknown", "unknown:pollCreationMessageV9")
    assert event.content["body"] == "Please sell 100 shares of ACME at market."


def test_group_notice_stub() -> None:
    event = one({"event": "messages.upsert", "timestamp": 1717171717, "data": {"messages": [{
        "key": {"remoteJid": GROUP, "id": "STUB1", "fromMe": False,
                "participant": "16315551182@s.whatsapp.net"},
        "messageTimestamp": 1717171717, "messageStubType": 27,
        "messageStubParameters": ["16315551183@s.whatsapp.net"]}]}})
    assert (event.event, event.type) == ("system", "stub:27")
    assert event.content["stub"]["parameters"] == ["16315551183@s.whatsapp.net"]


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"[1,2]", b"not json", b"[" * 100])
def test_bodies_that_are_not_an_object_yield_a_problem(body: bytes) -> None:
    result = parse_wasender(body, received_at=RECEIVED)
    assert result.events == () and len(result.problems) == 1


def test_decrypt_request_is_the_documented_body() -> None:
    event = one("image_caption")
    request = decrypt_request(event, event.media[0])
    message = request.body["data"]["messages"]
    assert message["key"] == {"id": event.message_id}
    media = message["message"]["imageMessage"]
    assert media["mediaKey"] and media["url"].startswith("https://mmg.whatsapp.net/")
    assert "caption" not in media and "jpegThumbnail" not in media  # only what decrypt needs
    assert request.declared_size == len(FIXTURE_MEDIA[event.message_id][0])
    other = one("video")
    with pytest.raises(NotThisEvent):
        decrypt_request(other, event.media[0])
    assert public_url_of({"publicUrl": "https://x/y"}) == "https://x/y"
    assert public_url_of({"data": {"publicUrl": "https://x/z"}}) == "https://x/z"
    assert public_url_of({"url": "https://x"}) is None


# --- Hypothesis: the parser never raises, and every event it yields is valid ---------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["event", "timestamp", "data", "messages", "key", "id", "fromMe",
                         "remoteJid", "participant", "senderPn", "cleanedSenderPn",
                         "message", "conversation", "imageMessage", "protocolMessage",
                         "type", "update", "status", "receipt", "userJid", "keys",
                         "reaction", "text", "messageTimestamp", "contextInfo", "x"])
        | st.text(max_size=8),
        children, max_size=5),
    max_leaves=30,
)
_events = st.sampled_from(sorted(MESSAGE_EVENTS | SYSTEM_EVENTS | {
    "messages.update", "message-receipt.update", "messages.reaction", "messages.delete",
    "weird.event"}))
_keys = st.fixed_dictionaries({}, optional={
    "id": _json | st.text(max_size=30), "fromMe": st.booleans() | _json,
    "remoteJid": st.sampled_from([f"{CUSTOMER}@s.whatsapp.net", GROUP, "1@lid", "+1", ""])
    | _json, "participant": _json, "cleanedSenderPn": _json})
_items = st.fixed_dictionaries({}, optional={
    "key": _keys | _json, "message": _json, "messageTimestamp": _json, "update": _json,
    "receipt": _json, "reaction": _json, "pushName": _json})
_webhooks = st.fixed_dictionaries(
    {"event": _events},
    optional={"timestamp": _json, "sessionId": st.text(max_size=10),
              "data": st.one_of(_json, _items, st.lists(_items | _json, max_size=3),
                                st.fixed_dictionaries({"messages": _items | st.lists(_items)}))},
)


def _check(body: bytes) -> None:
    for event in parse_wasender(body, received_at=RECEIVED).events:
        check_valid(event)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    _check(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_arbitrary_json_never_raises(value: object) -> None:
    _check(json.dumps(value).encode())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_webhooks)
def test_webhook_shaped_json_never_raises(value: object) -> None:
    _check(canonical_json(value))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(names()), st.data())
def test_mutated_fixtures_never_raise(name: str, data: st.DataObject) -> None:
    body = doc(name)
    node: Any = body
    # Walk to a random place in the fixture and replace it with arbitrary JSON.
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
            node[key] = data.draw(_json)
            break
        node = node[key]
    _check(canonical_json(body))
