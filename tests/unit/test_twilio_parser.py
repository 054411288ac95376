"""The Twilio adapter: form bodies from Twilio's documented parameters -> canonical events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.canonical import canonical_json
from archive.events import CanonicalEvent
from archive.identity import event_fingerprint, event_instance_id
from archive.index import latest_status_wins
from archive.layout import media_blob_name, record_blob_name
from archive.parsing import parse_body
from archive.record import RawRef, build_record, record_bytes
from archive.twilio.fields import party
from archive.twilio.form import MAX_FIELDS
from archive.twilio.media import media_path, media_url_for
from archive.twilio.parser import UNKNOWN_TIME, parse_twilio
from archive.twilio.statuses import lifecycle_status

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
RECEIVED = datetime(2026, 5, 31, 16, 8, 37, tzinfo=UTC)
BUSINESS = "15550783881"
CUSTOMER = "16315551181"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"
SID = re.compile(r"\A(SM|MM)[0-9a-f]{32}\Z")


def body_of(name: str) -> bytes:
    return (FIXTURES / f"{name}.txt").read_bytes().rstrip(b"\r\n")


def names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.txt"))


def one(name: str, received_at: datetime = RECEIVED) -> CanonicalEvent:
    result = parse_twilio(body_of(name), received_at=received_at)
    assert result.problems == ()
    (event,) = result.events
    return event


def assert_valid(event: CanonicalEvent) -> None:
    """What the pipeline does with an event must work: JSON, ids, names, the record."""
    data = json.loads(json.dumps(event.to_dict(), allow_nan=False))
    assert CanonicalEvent.from_dict(data) == event
    instance = event_instance_id(event)
    assert instance.isascii() and len(instance) <= 100
    assert not set(instance) & set("/\\?#")
    assert instance.startswith(f"{event.provider}-{event.event}-")
    name = record_blob_name(event)
    assert name.endswith(".json") and "/twilio/" in name
    for ref in event.media:
        media_blob_name(event, ref, ref.mime_type)
    record = build_record(event, raw=RawRef("raw/x.json", "0" * 64), received_at=RECEIVED)
    record_bytes(record)
    canonical_json(event.fragment)


def test_fixture_bodies_are_one_line_forms() -> None:
    for name in names():
        body = body_of(name)
        assert body.isascii() and b"\n" not in body and b" " not in body, name


@pytest.mark.parametrize("name", names())
def test_every_fixture_is_one_valid_event_with_its_form_as_fragment(name: str) -> None:
    result = parse_twilio(body_of(name), received_at=RECEIVED)
    (event,) = result.events
    assert event.provider == "twilio"
    assert event.timestamp == RECEIVED and event.content["timestamp_missing"] is True
    assert all(isinstance(v, list) and all(isinstance(s, str) for s in v)
               for v in event.fragment.values())
    assert event.fragment["AccountSid"] == [ACCOUNT]
    assert_valid(event)


def test_text() -> None:
    event = one("text")
    assert (event.event, event.direction, event.type) == ("message", "inbound", "text")
    assert event.content["text"] == "Please sell 100 shares of ACME at market. Merci \u2705"
    assert (event.sender, event.recipient) == (CUSTOMER, BUSINESS)
    assert (event.business_id, event.customer_id) == (BUSINESS, CUSTOMER)
    assert SID.match(event.message_id)
    assert event.content["contact"] == {"name": "Kerry Fisher", "wa_id": CUSTOMER}
    assert event.fragment["From"] == ["whatsapp:+16315551181"]
    assert event.media == () and event.status is None


@pytest.mark.parametrize(
    ("name", "kind", "mime", "caption"),
    [
        ("image_caption", "image", "image/jpeg", "Signed form"),
        ("document", "document", "application/pdf", "statement Q3.pdf"),
        ("voice_note", "audio", "audio/ogg", None),
    ],
)
def test_media_messages(name: str, kind: str, mime: str, caption: str | None) -> None:
    event = one(name)
    assert (event.event, event.type) == ("message", kind)
    (ref,) = event.media
    assert (ref.kind, ref.mime_type, ref.provider_sha256, ref.filename) == (kind, mime, None, None)
    assert re.fullmatch(r"ME[0-9a-f]{32}", ref.media_id)
    url = event.fragment["MediaUrl0"][0]
    assert url.endswith(f"/Messages/{event.message_id}/Media/{ref.media_id}")
    assert event.content.get("caption") == caption
    assert "text" not in event.content


def test_two_media_in_one_message() -> None:
    event = one("two_media")
    assert [r.mime_type for r in event.media] == ["image/jpeg", "image/png"]
    assert len({r.media_id for r in event.media}) == 2
    assert event.content["caption"] == "Both pages of the contract"
    for index, ref in enumerate(event.media):
        assert media_url_for(event.fragment, ref.media_id) == event.fragment[f"MediaUrl{index}"][0]


def test_media_url_survives_the_json_round_trip() -> None:
    event = one("image_caption")
    fragment = json.loads(json.dumps(event.to_dict()))["fragment"]
    path = media_path(media_url_for(fragment, event.media[0].media_id) or "")
    assert path is not None
    assert (path.account_sid, path.message_sid, path.media_sid) == (
        ACCOUNT, event.message_id, event.media[0].media_id)
    assert media_url_for(fragment, "ME-not-there") is None
    assert media_url_for({"MediaUrl0": "not a list", "NumMedia": [1]}, "x") is None


def test_shared_contact_is_a_vcard_media() -> None:
    event = one("contacts")
    assert event.type == "contacts"
    (ref,) = event.media
    assert (ref.kind, ref.mime_type) == ("document", "text/vcard")
    assert media_blob_name(event, ref, ref.mime_type).endswith(".vcf")


def test_reply_references_the_quoted_message() -> None:
    event = one("reply")
    quoted = event.fragment["OriginalRepliedMessageSid"][0]
    assert event.content["referenced_message_id"] == quoted
    assert event.content["context"] == {"id": quoted, "from": BUSINESS}
    assert event.content["text"] == "Yes, that is the order I meant"


def test_template_quick_reply_button() -> None:
    event = one("button_reply")
    assert event.type == "button"
    assert event.content["button"] == {"payload": "STOP promotions", "text": "Stop promotions"}
    assert "text" not in event.content  # Body only repeats the button's text
    assert event.content["referenced_message_id"] == event.content["context"]["id"]


def test_interactive_reply() -> None:
    event = one("interactive_reply")
    assert event.type == "interactive"
    assert event.content["interactive"] == {
        "type": "button_reply", "id": "confirm-yes", "title": "Yes"}


def test_location() -> None:
    location = one("location").content["location"]
    assert location["latitude"] == pytest.approx(37.483307)
    assert location["longitude"] == pytest.approx(-122.148981)
    assert location["name"] == "Pablo Morales"
    assert location["address"].startswith("1 Hacker Way")


def test_referral_and_forwarded() -> None:
    referral = one("referral").content["referral"]
    assert referral["source_type"] == "ad" and referral["headline"] == "Open a savings account"
    assert referral["ctwa_clid"].startswith("ARAk")
    assert "media_url" not in referral  # ReferralNumMedia=0 alone is no referral media
    assert one("forwarded").content["context"] == {"forwarded": True, "frequently_forwarded": True}


def test_unknown_extra_params_are_kept_in_the_fragment() -> None:
    event = one("unknown_extra_params")
    assert (event.event, event.type) == ("message", "text")
    assert event.fragment["NewFeatureFlag"] == ["on"]
    assert json.loads(event.fragment["ChannelMetadata"][0])["type"] == "whatsapp"


@pytest.mark.parametrize(
    ("name", "value", "provider_status"),
    [
        ("status_sent", "sent", "sent"),
        ("status_delivered", "delivered", "delivered"),
        ("status_read", "read", "read"),
        ("status_failed", "failed", "failed"),
        ("status_undelivered", "failed", "undelivered"),
        ("status_queued", "queued", "queued"),
        ("status_unseen_message", "delivered", "delivered"),
    ],
)
def test_status_callbacks(name: str, value: str, provider_status: str) -> None:
    event = one(name)
    assert (event.event, event.direction, event.type) == ("status", "outbound", "status")
    assert event.status is not None and event.status.value == value
    assert event.content["provider_status"] == provider_status
    assert (event.sender, event.recipient) == (BUSINESS, CUSTOMER)
    assert (event.business_id, event.customer_id) == (BUSINESS, CUSTOMER)
    assert event.status.recipient == CUSTOMER
    assert SID.match(event.message_id)
    assert record_blob_name(event).endswith(f"-status-outbound-{value}.json")


def test_status_errors() -> None:
    failed = one("status_failed").status
    assert failed is not None
    assert failed.errors[0]["code"] == 63016
    assert failed.errors[0]["title"].startswith("Failed to send freeform message")
    undelivered = one("status_undelivered").status
    assert undelivered is not None and undelivered.errors[0]["code"] == 63049
    delivered = one("status_delivered").status
    assert delivered is not None and delivered.errors == ()


def test_error_code_zero_is_no_error_and_text_codes_stay_text() -> None:
    base = body_of("status_delivered").decode()
    (event,) = parse_twilio(f"{base}&ErrorCode=0".encode(), received_at=RECEIVED).events
    assert event.status is not None and event.status.errors == ()
    (odd,) = parse_twilio(f"{base}&ErrorCode=X12".encode(), received_at=RECEIVED).events
    assert odd.status is not None and odd.status.errors == ({"code": "X12"},)


def test_statuses_of_one_message_are_distinct_events_and_never_regress() -> None:
    sent, delivered, read = (one(n) for n in ("status_sent", "status_delivered", "status_read"))
    assert sent.message_id == delivered.message_id == read.message_id
    ids = {event_instance_id(e) for e in (sent, delivered, read, one("status_queued"))}
    assert len(ids) == 4
    later = RECEIVED + timedelta(seconds=5)
    # read arrives first; a late delivered (a later receive time) does not replace it
    assert not latest_status_wins((RECEIVED, "read"), (later, "delivered"))
    assert not latest_status_wins((RECEIVED, "delivered"), (later, "queued"))
    # undelivered is terminal: it outranks what came before it
    assert latest_status_wins((RECEIVED, "delivered"), (later, lifecycle_status("undelivered")
                                                         or ""))


@pytest.mark.parametrize(
    ("twilio", "archive"),
    [("queued", "queued"), ("sending", "sending"), ("sent", "sent"),
     ("delivered", "delivered"), ("undelivered", "failed"), ("failed", "failed"),
     ("read", "read"), ("accepted", "accepted"), ("scheduled", "scheduled"),
     ("canceled", "canceled"), ("READ", "read"), ("partially_delivered", None),
     ("received", None), ("", None)],
)
def test_lifecycle_mapping(twilio: str, archive: str | None) -> None:
    assert lifecycle_status(twilio) == archive


def test_redelivery_is_the_same_event_whenever_it_arrives() -> None:
    for name in names():
        first = parse_twilio(body_of(name), received_at=RECEIVED).events[0]
        again = parse_twilio(body_of(name), received_at=RECEIVED + timedelta(days=3)).events[0]
        assert event_instance_id(first) == event_instance_id(again), name
        assert event_fingerprint(first) == event_fingerprint(again)
        assert first.message_id == again.message_id


def test_unknown_status_value_is_archived_as_unknown() -> None:
    result = parse_twilio(body_of("status_unknown_value"), received_at=RECEIVED)
    (event,) = result.events
    assert (event.event, event.direction, event.type) == ("unknown", "outbound", "unknown:status")
    assert event.status is not None and event.status.value == "partially_delivered"
    assert event.fragment["MessageStatus"] == ["partially_delivered"]
    assert result.problems == (
        "MessageStatus 'partially_delivered' not recognized; archived as unknown",)


def test_body_without_message_sid_is_unknown_under_a_body_scoped_id() -> None:
    result = parse_twilio(body_of("no_message_sid"), received_at=RECEIVED)
    (event,) = result.events
    assert (event.event, event.type) == ("unknown", "unknown:no_message_sid")
    assert re.fullmatch(r"twilio-noid-[0-9a-f]{32}", event.message_id)
    assert event.fragment["Body"] == ["hello?"]
    assert result.problems == ("webhook without MessageSid archived as unknown",)
    other = parse_twilio(body_of("no_message_sid") + b"&X=1", received_at=RECEIVED).events[0]
    assert other.message_id != event.message_id


def test_status_without_message_sid_is_outbound_unknown() -> None:
    body = b"MessageStatus=delivered&To=whatsapp%3A%2B16315551181&From=whatsapp%3A%2B15550783881"
    (event,) = parse_twilio(body, received_at=RECEIVED).events
    assert (event.event, event.direction) == ("unknown", "outbound")


def test_sms_sid_stands_in_for_a_missing_message_sid() -> None:
    body = b"SmsSid=SM11&SmsStatus=received&Body=hi&From=whatsapp%3A%2B16315551181"
    (event,) = parse_twilio(body, received_at=RECEIVED).events
    assert (event.event, event.message_id, event.content["text"]) == ("message", "SM11", "hi")


def test_unknown_message_type_is_unknown_with_its_content() -> None:
    body = body_of("text").decode().replace("MessageType=text", "MessageType=reaction")
    result = parse_twilio(body.encode(), received_at=RECEIVED)
    (event,) = result.events
    assert (event.event, event.type) == ("unknown", "unknown:reaction")
    assert event.content["text"].startswith("Please sell")
    assert result.problems == ("MessageType 'reaction' not recognized; archived as unknown",)


def test_older_webhooks_without_message_type_are_inferred() -> None:
    def typed(name: str) -> str:
        body = re.sub(r"MessageType=[a-z]+&", "", body_of(name).decode())
        return parse_twilio(body.encode(), received_at=RECEIVED).events[0].type

    assert typed("image_caption") == "image"
    assert typed("location") == "location"
    assert typed("button_reply") == "button"
    assert typed("text") == "text"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("whatsapp:+16315551181", "16315551181"), ("+14155238886", "14155238886"),
     ("whatsapp:ID.4566546130240823", "whatsapp:ID.4566546130240823"),
     ("messenger:1234", "messenger:1234"), ("whatsapp:+0123", "whatsapp:+0123"),
     ("whatsapp:16315551181", "whatsapp:16315551181"), ("", None), (None, None)],
)
def test_addresses(value: str | None, expected: str | None) -> None:
    assert party(value) == expected


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Body=caf\u00e9".encode(), "body is not form-encoded: bytes outside ASCII"),
        (b"Body=100%ZZ", "body is not form-encoded: malformed percent escape"),
        (b"Body=%", "body is not form-encoded: malformed percent escape"),
        (b"Body=%C3", "body is not form-encoded: escapes are not UTF-8"),
        (b"MessageSid=SM1&Body", "body is not form-encoded: a field without '='"),
        (b"MessageSid=SM1&&Body=x", "body is not form-encoded: a field without '='"),
        (b"a=1&" * (MAX_FIELDS + 1) + b"a=1", "body is not form-encoded: too many fields"),
        (b"", "body has no form fields"),
    ],
    ids=["non-ascii", "bad-escape", "lone-percent", "bad-utf8", "no-equals", "empty-pair",
         "too-many-fields", "empty"],
)
def test_bad_encodings_are_problems(body: bytes, problem: str) -> None:
    result = parse_twilio(body, received_at=RECEIVED)
    assert result.events == () and result.problems == (problem,)


def test_repeated_parameter_uses_the_first_value() -> None:
    body = body_of("text") + b"&Body=second"
    result = parse_twilio(body, received_at=RECEIVED)
    assert result.events[0].content["text"].startswith("Please sell")
    assert result.events[0].fragment["Body"][1] == "second"
    assert result.problems == ("parameter 'Body' given more than once; first value used",)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("NumMedia=1", "NumMedia=two"), "NumMedia is not a number"),
        (("NumMedia=1", "NumMedia=2"), "media item 1 has no MediaUrl1"),
        (("NumMedia=1", "NumMedia=0"), "MediaUrl0 is beyond NumMedia"),
        (("api.twilio.com%2F2010-04-01", "example.com%2Fx"),
         "MediaUrl0 is not a Twilio Media resource URL"),
    ],
)
def test_media_list_faults_are_problems(change: tuple[str, str], problem: str) -> None:
    body = body_of("image_caption").decode().replace(*change)
    result = parse_twilio(body.encode(), received_at=RECEIVED)
    (event,) = result.events
    assert problem in result.problems
    assert len(event.media) == 1  # the one URL there is still listed (and fetched or flagged)
    assert_valid(event)


def test_non_twilio_media_url_gets_a_stable_synthetic_id() -> None:
    body = body_of("image_caption").decode().replace("api.twilio.com%2F2010-04-01", "example.com")
    first = parse_twilio(body.encode(), received_at=RECEIVED).events[0]
    again = parse_twilio(body.encode(), received_at=RECEIVED).events[0]
    assert first.media[0].media_id.startswith("twilio-media0-")
    assert first.media[0].media_id == again.media[0].media_id


def test_problems_never_quote_content() -> None:
    secret = "ACCT-4411-PIN-9922"
    body = body_of("location").decode().replace("Latitude=37.483307", f"Latitude={secret}")
    result = parse_twilio(body.encode(), received_at=RECEIVED)
    assert result.problems == ("Latitude is not a valid coordinate",)
    assert result.events[0].content["location"]["latitude"] is None
    assert all(secret not in p for p in result.problems)


def test_naive_received_at_never_raises() -> None:
    (event,) = parse_twilio(body_of("text"), received_at=datetime(2026, 5, 31)).events
    assert event.timestamp == UNKNOWN_TIME


def test_parse_body_dispatches_twilio() -> None:
    parsed = parse_body("twilio", body_of("status_read"), RECEIVED)
    assert parsed.problems == () and parsed.events[0].status is not None
    assert parsed.events == parse_twilio(body_of("status_read"), received_at=RECEIVED).events


# --- Hypothesis: arbitrary bytes, arbitrary forms, mutated fixtures -----------------------

FIELD_NAMES = st.sampled_from([
    "MessageSid", "SmsSid", "SmsMessageSid", "SmsStatus", "MessageStatus", "Body", "From", "To",
    "NumMedia", "MediaUrl0", "MediaUrl1", "MediaContentType0", "MessageType", "ProfileName",
    "WaId", "OriginalRepliedMessageSid", "OriginalRepliedMessageSender", "ButtonText",
    "ButtonPayload", "Latitude", "Longitude", "Address", "Label", "ErrorCode", "ErrorMessage",
    "Forwarded", "ReferralBody", "AccountSid",
]) | st.text(min_size=1, max_size=12)
FIELD_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "0", "1", "2", "true", "read", "undelivered", "location", "image",
                     "whatsapp:+16315551181", "+1", "whatsapp:", "NaN", "1e400", "-91",
                     "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                     "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1?x"]),
)


def check_result(body: bytes) -> None:
    result = parse_twilio(body, received_at=RECEIVED)
    assert len(result.events) <= 1
    assert all(isinstance(p, str) for p in result.problems)
    if not result.events:
        assert result.problems
    for event in result.events:
        assert_valid(event)
        assert parse_twilio(body, received_at=RECEIVED).events == (event,)  # deterministic


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    check_result(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=14))
def test_arbitrary_forms_never_raise_and_every_event_is_valid(pairs: list[tuple[str, str]]) -> None:
    check_result(urlencode(pairs).encode("ascii"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(names()),
    st.lists(st.tuples(st.integers(0, 40), st.one_of(st.none(), FIELD_VALUES)), max_size=4),
)
def test_mutated_fixtures_never_raise(name: str, edits: list[tuple[int, str | None]]) -> None:
    pairs = [tuple(p.split("=", 1)) for p in body_of(name).decode().split("&")]
    for index, value in edits:
        if not pairs:
            break
        key = pairs[index % len(pairs)][0]
        if value is None:
            pairs.pop(index % len(pairs))
        else:
            pairs[index % len(pairs)] = (key, urlencode({"v": value})[2:])
    check_result("&".join(f"{k}={v}" for k, v in pairs).encode("ascii"))
