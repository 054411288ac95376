import json
from datetime import UTC, datetime

import pytest

from archive.events import CanonicalEvent
from archive.meta.parser import UNKNOWN_TIME, parse_webhook
from tests.unit._meta_fixtures import fixture_bytes, fixture_names

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 31, 16, 8, 37, tzinfo=UTC)  # 1717171717
BUSINESS = "106540352242922"
CUSTOMER = "16315551181"


def one(name: str) -> CanonicalEvent:
    result = parse_webhook(fixture_bytes(name))
    assert result.problems == ()
    assert len(result.events) == 1
    return result.events[0]


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_parses_to_events_with_fragments(name: str) -> None:
    result = parse_webhook(fixture_bytes(name))
    assert result.events
    for event in result.events:
        assert event.fragment
        assert event.provider == "meta"
        assert event.timestamp.tzinfo is not None
        json.dumps(event.to_dict(), allow_nan=False)
        assert CanonicalEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_text() -> None:
    event = one("text")
    assert (event.event, event.direction, event.type) == ("message", "inbound", "text")
    assert event.content["text"] == "Please sell 100 shares of ACME at market."
    assert event.sender == CUSTOMER and event.recipient == "15550783881"
    assert event.business_id == BUSINESS and event.customer_id == CUSTOMER
    assert event.timestamp == T0
    assert event.message_id.startswith("wamid.")
    assert event.content["contact"]["name"] == "Kerry Fisher"
    assert event.fragment["text"]["body"].startswith("Please sell")


@pytest.mark.parametrize(
    ("name", "kind", "mime", "extra"),
    [
        ("image", "image", "image/jpeg", {"caption": "Signed form"}),
        ("audio_voice", "audio", "audio/ogg; codecs=opus", {"voice": True}),
        ("video", "video", "video/mp4", {"caption": "walkthrough"}),
        ("document", "document", "application/pdf", {"filename": "statement Q3.pdf"}),
        ("sticker_animated", "sticker", "image/webp", {"animated": True}),
    ],
)
def test_media_types(name: str, kind: str, mime: str, extra: dict[str, object]) -> None:
    event = one(name)
    assert event.type == kind and event.event == "message"
    assert len(event.media) == 1
    ref = event.media[0]
    assert ref.kind == kind and ref.mime_type == mime and ref.media_id.isdigit()
    assert ref.provider_sha256
    for key, value in extra.items():
        assert event.content[key] == value
    if kind == "document":
        assert ref.filename == "statement Q3.pdf"


def test_location() -> None:
    location = one("location").content["location"]
    assert location["latitude"] == pytest.approx(37.483307)
    assert location["longitude"] == pytest.approx(-122.148981)
    assert location["name"] == "Pablo Morales"
    assert location["address"].startswith("1 Hacker Way")


def test_contacts_array() -> None:
    contacts = one("contacts").content["contacts"]
    assert [c["name"]["formatted_name"] for c in contacts] == ["Barbara Johnson", "Rae"]


def test_interactive_replies() -> None:
    button = one("interactive_button_reply").content
    assert button["interactive"] == {"type": "button_reply", "id": "confirm-yes", "title": "Yes"}
    assert button["referenced_message_id"].startswith("wamid.")
    listed = one("interactive_list_reply").content["interactive"]
    assert listed["type"] == "list_reply" and listed["id"] == "acct-2"
    assert listed["description"] == "Savings account ending 4411"
    flow = one("interactive_nfm_reply").content["interactive"]
    assert flow["type"] == "nfm_reply" and "risk_profile" in flow["response_json"]


def test_template_quick_reply_button() -> None:
    event = one("button")
    assert event.type == "button"
    assert event.content["button"] == {"payload": "STOP promotions", "text": "Stop promotions"}
    assert event.content["context"]["id"] == event.content["referenced_message_id"]


def test_reaction_and_removed_reaction() -> None:
    added = one("reaction")
    assert added.event == "reaction" and added.type == "reaction"
    assert added.content["reaction"]["emoji"] == "\U0001f44d"
    assert added.content["reaction_removed"] is False
    assert added.content["referenced_message_id"] != added.message_id
    removed = one("reaction_removed")
    assert removed.content["reaction_removed"] is True
    assert removed.content["reaction"]["emoji"] == ""


def test_system_changed_number() -> None:
    event = one("system_changed_number")
    assert event.event == "system" and event.type == "system"
    assert event.content["system"]["type"] == "user_changed_number"
    assert event.content["system"]["wa_id"] == "16315559999"


def test_unsupported_keeps_errors() -> None:
    event = one("unsupported")
    assert event.event == "unknown" and event.type == "unknown:unsupported"
    assert event.content["errors"][0]["code"] == 131051


def test_unknown_type_keeps_fragment() -> None:
    event = one("unknown_type")
    assert event.event == "unknown" and event.type == "unknown:hologram"
    assert event.fragment["hologram"] == {"beam": "x"}


def test_order_referral_context() -> None:
    order = one("order").content["order"]
    assert order["product_items"][0]["product_retailer_id"] == "SKU-1"
    referral = one("referral").content
    assert referral["referral"]["source_type"] == "ad" and referral["text"]
    forwarded = one("context_forwarded").content["context"]
    assert forwarded == {"forwarded": True, "frequently_forwarded": True}
    product = one("context_product").content["context"]
    assert product["referred_product"]["product_retailer_id"] == "SKU-1"


def test_group_message_conversation_is_the_group() -> None:
    event = one("group_text")
    assert event.content["group_id"] == "120363041234567890@g.us"
    assert event.customer_id == "120363041234567890@g.us"
    assert event.sender == CUSTOMER


def test_bsuid_participant() -> None:
    event = one("bsuid_text")
    assert event.sender == "US.13491208655302741918"
    assert event.customer_id == "US.13491208655302741918"
    assert event.content["contact"]["user_id"] == "US.13491208655302741918"
    assert "/" not in event.conversation_key()


def test_username_only_sender_is_the_sole_contact_bsuid() -> None:
    event = one("bsuid_no_from")
    assert event.sender == "BR.1502576394655843" == event.customer_id
    assert event.content["contact"] == {
        "name": "Ana", "username": "@ana", "user_id": "BR.1502576394655843",
        "parent_user_id": "BR.ENT.99887766",
    }


def test_unrecognized_value_keys_are_archived_as_unknown() -> None:
    result = parse_webhook(fixture_bytes("unknown_value_key"))
    (event,) = result.events
    assert event.event == "unknown" and event.type == "unknown:value:calls"
    assert event.fragment == {"calls": [{"id": "wacid.ABC", "event": "connect"}]}
    assert event.timestamp == T0
    assert result.problems == ("entry[0].changes[0]: unrecognized value key 'calls' archived",)


@pytest.mark.parametrize(
    ("name", "value", "ts"),
    [
        ("status_sent", "sent", 1717171717),
        ("status_delivered", "delivered", 1717171720),
        ("status_read", "read", 1717171730),
        ("status_failed", "failed", 1717171725),
    ],
)
def test_statuses(name: str, value: str, ts: int) -> None:
    event = one(name)
    assert (event.event, event.direction, event.type) == ("status", "outbound", "status")
    assert event.status is not None and event.status.value == value
    assert event.status.recipient == CUSTOMER and event.customer_id == CUSTOMER
    assert event.timestamp == datetime.fromtimestamp(ts, tz=UTC)
    if value == "sent":
        assert event.status.pricing == {
            "billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"
        }
        assert event.status.conversation is not None
        assert event.status.conversation["origin"] == {"type": "utility"}
    if value == "failed":
        assert event.status.errors[0]["code"] == 131026
        assert event.status.errors[0]["error_data"]["details"]


def test_status_to_username_only_user() -> None:
    event = one("status_bsuid")
    assert event.status is not None and event.status.recipient == "BR.1502576394655843"
    assert event.customer_id == "BR.1502576394655843" == event.recipient
    assert event.content["contact"]["username"] == "@ana"
    assert event.content["recipient_user_id"] == "BR.1502576394655843"


def test_deleted_status_is_an_inbound_delete() -> None:
    event = one("status_deleted")
    assert event.event == "delete" and event.direction == "inbound"
    assert event.status is not None and event.status.value == "deleted"


def test_group_status() -> None:
    event = one("status_group")
    assert event.content["recipient_type"] == "group"
    assert event.customer_id == "120363041234567890@g.us"


def test_echoes_are_outbound() -> None:
    event = one("echo_text")
    assert (event.event, event.direction, event.type) == ("message", "outbound", "text")
    assert event.sender == "15550783881" and event.recipient == CUSTOMER
    assert event.customer_id == CUSTOMER and event.business_id == BUSINESS
    image = one("echo_image")
    assert image.direction == "outbound" and image.media[0].media_id == "2093819273918273"


def test_echo_edit_and_revoke() -> None:
    edit = one("echo_edit")
    assert (edit.event, edit.direction, edit.type) == ("edit", "outbound", "edit")
    assert edit.content["original_message_id"] == "wamid.ECHO.HBgLMTYzMTU1NTExODEVAgARGBJFQ0hPMQA="
    assert edit.content["edited"] == {"type": "text", "text": "Order executed at 12.13 (corrected)"}
    revoke = one("echo_revoke")
    assert (revoke.event, revoke.direction, revoke.type) == ("delete", "outbound", "revoke")
    assert revoke.content["original_message_id"] == edit.content["original_message_id"]


def test_inbound_edit_and_revoke() -> None:
    assert one("inbound_edit").event == "edit"
    revoke = one("inbound_revoke")
    assert revoke.event == "delete" and revoke.direction == "inbound"


def test_webhook_level_errors_are_problems_and_archived() -> None:
    result = parse_webhook(fixture_bytes("webhook_errors"))
    assert len(result.problems) == 1
    assert "131000" in result.problems[0]
    (event,) = result.events
    assert event.event == "system" and event.type == "webhook_error"
    assert event.fragment["code"] == 131000
    assert event.timestamp == T0  # from entry.time


def test_same_error_in_two_webhooks_is_two_events() -> None:
    body = json.loads(fixture_bytes("webhook_errors"))
    first = parse_webhook(json.dumps(body).encode()).events[0]
    body["entry"][0]["time"] = 1717171999
    second = parse_webhook(json.dumps(body).encode()).events[0]
    assert first.message_id != second.message_id
    again = parse_webhook(json.dumps(body).encode()).events[0]
    assert again.message_id == second.message_id


def test_other_fields_are_archived_as_system_events() -> None:
    event = one("other_field")
    assert event.event == "system"
    assert event.type == "field:message_template_status_update"
    assert event.fragment["value"]["event"] == "APPROVED"
    assert event.business_id == "102290129340398"


def test_multi_entry_multi_change_multi_message() -> None:
    result = parse_webhook(fixture_bytes("multi"))
    assert result.problems == ()
    summary = [(e.event, e.direction, e.message_id, e.status.value if e.status else None)
               for e in result.events]
    assert summary == [
        ("message", "inbound", "wamid.MULTI1", None),
        ("message", "inbound", "wamid.MULTI2", None),
        ("status", "outbound", "wamid.OUT1", "delivered"),
        ("status", "outbound", "wamid.OUT1", "read"),
        ("message", "outbound", "wamid.MULTIECHO", None),
    ]
    echo = result.events[-1]
    assert echo.business_id == "222222222222222" and echo.customer_id == "US.998877"


def test_missing_timestamp_falls_back_to_received_at() -> None:
    received = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
    (event,) = parse_webhook(fixture_bytes("missing_timestamp"), received_at=received).events
    assert event.timestamp == received and event.content["timestamp_missing"] is True
    (no_clock,) = parse_webhook(fixture_bytes("missing_timestamp")).events
    assert no_clock.timestamp == UNKNOWN_TIME


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'{"object": "whatsapp_business_account", "entry": [', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b'{"a":' * 70 + b"1" + b"}" * 70, "nests too deeply"),
        (b'{"x": NaN}', "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "no entry list"),
    ],
)
def test_unparseable_bodies(body: bytes, problem: str) -> None:
    result = parse_webhook(body)
    assert result.events == ()
    assert any(problem in p for p in result.problems)


def test_deep_nesting_is_refused_before_the_json_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("json.loads reached with a deeply nested body")

    monkeypatch.setattr(json, "loads", must_not_run)
    deep = b'{"entry": ' + b'["]", ' * 10_000 + b"1" + b"]" * 10_000 + b"}"
    assert parse_webhook(deep).problems == ("body nests too deeply",)


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.loads(fixture_bytes("text"))
    body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "[{" * 500 + '\\"'
    result = parse_webhook(json.dumps(body).encode())
    assert result.problems == () and len(result.events) == 1


def test_wrong_shapes_report_problems_and_keep_the_rest() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            "junk",
            {"id": "1", "changes": "junk"},
            {"id": "2", "changes": [7, {"field": "messages", "value": {
                "metadata": {"phone_number_id": 5},
                "messages": [3, {"type": "text", "text": "not-an-object", "timestamp": "x"}],
                "statuses": [{"id": "wamid.S", "timestamp": "99999999999999999999"}],
            }}]},
        ],
    }
    result = parse_webhook(json.dumps(body).encode())
    assert len(result.events) == 2
    message, status = result.events
    assert message.business_id == "5"
    assert message.content["text"] is None and message.content["timestamp_missing"] is True
    assert message.message_id.startswith("noid-")
    assert status.status is not None and status.status.value == "unknown"
    assert any("message without id" in p for p in result.problems)
    assert any("status without a status value" in p for p in result.problems)
    assert len(result.problems) >= 6


def test_problems_never_contain_message_content() -> None:
    body = fixture_bytes("webhook_errors").replace(b"Something went wrong", b"SECRET-CONTENT")
    body2 = json.loads(fixture_bytes("text"))
    body2["entry"][0]["changes"][0]["value"]["messages"][0].pop("id")
    for raw in (body, json.dumps(body2).encode()):
        for problem in parse_webhook(raw).problems:
            assert "Please sell" not in problem
    for problem in parse_webhook(b'{"text": "Please sell' + b"\xff").problems:
        assert "Please sell" not in problem


def test_redelivery_parses_identically() -> None:
    first = parse_webhook(fixture_bytes("multi"))
    second = parse_webhook(fixture_bytes("multi"))
    assert first == second
