import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.outbound import (
    MAX_BACKDATE,
    MAX_CONTENT_BYTES,
    MAX_DEPTH,
    MAX_FUTURE_SKEW,
    MAX_MEDIA,
    MAX_MEDIA_ID_CHARS,
    OutboundError,
    is_capture,
    main_record,
    parse_outbound,
)

pytestmark = pytest.mark.unit

VALID = {
    "message_id": "wamid.HBgLMTYzMTU1NTExODEVAgARGBI0QkQ3RkQyNUI3MDlDQTYxMUMA",
    "to": "16315551181",
    "from": "106540352242922",
    "timestamp": "2024-05-31T16:08:37Z",
    "type": "image",
    "content": {"caption": "your statement"},
    "media": [{"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "abc"}],
}


def test_valid_payload() -> None:
    event = parse_outbound(VALID)
    assert (event.event, event.direction, event.provider) == ("message", "outbound", "meta")
    assert event.sender == "106540352242922" and event.recipient == "16315551181"
    assert event.business_id == "106540352242922" and event.customer_id == "16315551181"
    assert event.timestamp == datetime(2024, 5, 31, 16, 8, 37, tzinfo=UTC)
    assert event.content["caption"] == "your statement"
    assert event.content["captured_via"] == "outbound_api"
    (media,) = event.media
    assert media.kind == "image" and media.media_id == "1003383421387256"
    assert media.provider_sha256 == "abc"
    assert event.fragment == VALID


def test_unix_seconds() -> None:
    body = {k: v for k, v in VALID.items() if k != "media"}
    event = parse_outbound({**body, "timestamp": "1717171717", "type": "text"})
    assert event.sender == "106540352242922"
    assert event.timestamp == datetime(2024, 5, 31, 16, 8, 37, tzinfo=UTC)
    assert parse_outbound({**VALID, "timestamp": 1717171717}).timestamp == event.timestamp


def test_bsuid_recipient() -> None:
    assert parse_outbound({**VALID, "to": "US.13491208655302741918"}).customer_id == (
        "US.13491208655302741918"
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "JSON object"),
        ("text", "JSON object"),
        ({**VALID, "message_id": None}, "'message_id' is required"),
        ({k: v for k, v in VALID.items() if k != "message_id"}, "'message_id' is required"),
        ({**VALID, "message_id": ""}, "'message_id' must be a non-empty string"),
        ({**VALID, "message_id": 5}, "'message_id' must be a non-empty string"),
        ({**VALID, "to": " "}, "'to' must be a non-empty string"),
        ({k: v for k, v in VALID.items() if k != "from"}, "'from'"),
        ({**VALID, "from": 7}, "'from' must be a non-empty string"),
        ({**VALID, "timestamp": "2024-05-31T16:08:37"}, "'timestamp'"),
        ({**VALID, "timestamp": "yesterday"}, "'timestamp'"),
        ({**VALID, "timestamp": True}, "'timestamp'"),
        ({k: v for k, v in VALID.items() if k != "timestamp"}, "'timestamp' is required"),
        ({**VALID, "type": "Text!"}, "'type'"),
        ({**VALID, "content": []}, "'content' must be an object"),
        ({**VALID, "media": {}}, "'media' must be a list"),
        ({**VALID, "media": ["x"]}, "'media[0]' must be an object"),
        ({**VALID, "media": [{"mime_type": "image/jpeg"}]}, "'media[0].id'"),
        ({**VALID, "media": [{"id": "1", "kind": "hologram"}]}, "'media[0].kind'"),
        ({**VALID, "media": [{"id": "1", "mime_type": 5}]}, "'media[0].mime_type'"),
        ({**VALID, "content": {"x": float("nan")}}, "NaN"),
    ],
)
def test_invalid_payloads(payload: object, message: str) -> None:
    with pytest.raises(OutboundError, match=re.escape(message)):
        parse_outbound(payload)


# No deadline: a shared CI core must not turn load into a failure (no timing asserts).
@settings(deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["message_id", "to", "from", "timestamp", "type", "content", "media"]),
        st.none() | st.booleans() | st.integers() | st.text(max_size=30)
        | st.lists(st.dictionaries(st.sampled_from(["id", "kind", "mime_type"]),
                                   st.none() | st.text(max_size=5) | st.integers()), max_size=2)
        | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    )
)
def test_only_outbound_errors_escape(payload: dict[str, object]) -> None:
    try:
        event = parse_outbound({**VALID, **payload})
    except OutboundError:
        return
    assert event.direction == "outbound" and event.timestamp.tzinfo is not None


def test_extreme_timestamps() -> None:
    with pytest.raises(OutboundError):
        parse_outbound({**VALID, "timestamp": "0001-01-01T00:00:00+01:00"})
    assert parse_outbound({**VALID, "timestamp": "9999-12-31T23:59:59Z"}).timestamp.year == 9999


def test_outbound_error_is_value_error() -> None:
    assert issubclass(OutboundError, ValueError)


# --- issue 21.2: the capture is bound to the firm's numbers, a time window and size limits ---

RECEIVED = datetime(2024, 5, 31, 16, 9, 0, tzinfo=UTC)
FIRM = ("106540352242922", "106540352242999")


def test_from_must_be_one_of_the_allowed_senders() -> None:
    assert parse_outbound(VALID, allowed_senders=FIRM).sender == "106540352242922"
    with pytest.raises(OutboundError, match=r"'from' is not one of the firm's sender ids"):
        parse_outbound({**VALID, "from": "15550001111"}, allowed_senders=FIRM)


def test_from_is_required_when_senders_are_configured() -> None:
    body = {k: v for k, v in VALID.items() if k != "from"}
    with pytest.raises(OutboundError, match=r"'from' .*is required"):
        parse_outbound(body, allowed_senders=FIRM)


def test_empty_allowed_senders_means_unchecked() -> None:
    assert parse_outbound({**VALID, "from": "any-sender"}, allowed_senders=()).sender == (
        "any-sender"
    )


def test_timestamp_backdated_to_year_one_is_rejected() -> None:
    with pytest.raises(OutboundError, match=r"'timestamp' is more than 7 days before"):
        parse_outbound({**VALID, "timestamp": "0001-01-02T00:00:00Z"}, received_at=RECEIVED)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-MAX_BACKDATE, True),
        (-MAX_BACKDATE - timedelta(seconds=1), False),
        (timedelta(0), True),
        (MAX_FUTURE_SKEW, True),
        (MAX_FUTURE_SKEW + timedelta(seconds=1), False),
    ],
)
def test_timestamp_window_edges(offset: timedelta, accepted: bool) -> None:
    body = {**VALID, "timestamp": (RECEIVED + offset).isoformat()}
    if accepted:
        assert parse_outbound(body, received_at=RECEIVED).timestamp == RECEIVED + offset
    else:
        with pytest.raises(OutboundError, match=r"'timestamp'"):
            parse_outbound(body, received_at=RECEIVED)


def test_naive_received_at_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="received_at"):
        parse_outbound(VALID, received_at=datetime(2024, 5, 31, 16, 9))


def test_same_received_at_gives_the_same_event() -> None:
    # parse_body re-derives records from the stored body later; it must agree with ingest.
    first = parse_outbound(VALID, allowed_senders=FIRM, received_at=RECEIVED)
    again = parse_outbound(VALID, allowed_senders=FIRM, received_at=RECEIVED)
    assert first == again


def _nested(levels: int) -> dict[str, object]:
    node: dict[str, object] = {"text": "leaf"}
    for _ in range(levels - 1):
        node = {"n": node}
    return node


def test_content_depth_is_bounded() -> None:
    assert parse_outbound({**VALID, "content": _nested(MAX_DEPTH)}).content["n"]
    with pytest.raises(OutboundError, match=r"'content' nests deeper than 8 levels"):
        parse_outbound({**VALID, "content": _nested(MAX_DEPTH + 1)})


def test_other_fields_are_depth_bounded_too() -> None:
    # The whole payload is kept as the record's fragment, not only `content`.
    with pytest.raises(OutboundError, match=r"'extra' nests deeper"):
        parse_outbound({**VALID, "extra": [[[[[[[[[[1]]]]]]]]]]})


def test_very_deep_content_is_an_outbound_error_not_a_crash() -> None:
    deep: object = "leaf"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(OutboundError, match="'content' nests deeper"):
        parse_outbound({**VALID, "content": {"x": deep}})


def test_content_size_is_bounded() -> None:
    small = {**VALID, "content": {"text": "x" * (MAX_CONTENT_BYTES - 100)}}
    assert parse_outbound(small).content["text"]
    with pytest.raises(OutboundError, match=r"'content' is larger than 65536 bytes"):
        parse_outbound({**VALID, "content": {"text": "x" * MAX_CONTENT_BYTES}})


def test_media_count_is_bounded() -> None:
    media = [{"id": str(i)} for i in range(MAX_MEDIA)]
    assert len(parse_outbound({**VALID, "media": media}).media) == MAX_MEDIA
    with pytest.raises(OutboundError, match=r"'media' has more than 10 items"):
        parse_outbound({**VALID, "media": [*media, {"id": "x"}]})


def test_media_id_length_is_bounded() -> None:
    long_id = "1" * MAX_MEDIA_ID_CHARS
    assert parse_outbound({**VALID, "media": [{"id": long_id}]}).media[0].media_id == long_id
    with pytest.raises(OutboundError, match=r"'media\[0\].id' is longer than 256 characters"):
        parse_outbound({**VALID, "media": [{"id": long_id + "1"}]})


@pytest.mark.parametrize("key", ["mime_type", "sha256", "filename"])
def test_media_text_fields_are_bounded(key: str) -> None:
    with pytest.raises(OutboundError, match=rf"'media\[0\].{key}' is longer than"):
        parse_outbound({**VALID, "media": [{"id": "1", key: "a" * 10_000}]})


def test_captured_via_marks_every_capture() -> None:
    forged = parse_outbound({**VALID, "content": {"captured_via": "meta_webhook"}})
    assert forged.content["captured_via"] == "outbound_api"


# --- `show` prefers the provider-signed record over a capture reusing its wamid ---

SIGNED = {"direction": "inbound", "content": {"text": "hi"},
          "custody": {"method": "meta-hmac-sha256"}}
CAPTURE = {"direction": "outbound", "content": {"text": "forged", "captured_via": "outbound_api"}}
CAPTURE_WITH_CUSTODY = {"content": {}, "custody": {"method": "outbound-api-mac"}}
LEGACY_SIGNED = {"direction": "inbound", "content": {"text": "no custody yet"}}


def test_is_capture_reads_custody_or_the_content_marker() -> None:
    assert is_capture(CAPTURE) and is_capture(CAPTURE_WITH_CUSTODY)
    assert not is_capture(SIGNED) and not is_capture(LEGACY_SIGNED)
    assert not is_capture({"content": "captured_via", "custody": "outbound-api-mac"})


def _pick(records: Mapping[str, Mapping[str, object] | None]) -> tuple[str | None, list[str]]:
    reads: list[str] = []

    def read(path: str) -> Mapping[str, object] | None:
        reads.append(path)
        return records[path]

    chosen = main_record(list(records), read)
    return (chosen[0] if chosen else None), reads


def test_earlier_capture_does_not_become_the_main_record() -> None:
    # Oldest first, as `show` sorts them: the capture claims an earlier time.
    assert _pick({"cap": CAPTURE, "signed": SIGNED}) == ("signed", ["cap", "signed"])
    assert _pick({"a": CAPTURE_WITH_CUSTODY, "b": CAPTURE, "c": LEGACY_SIGNED, "d": SIGNED})[0] \
        == "c"


def test_the_first_signed_record_costs_one_read() -> None:
    assert _pick({"signed": SIGNED, "cap": CAPTURE}) == ("signed", ["signed"])


def test_captures_only_unreadable_or_nothing() -> None:
    assert _pick({"a": CAPTURE, "b": CAPTURE_WITH_CUSTODY})[0] == "a"
    assert _pick({"gone": None, "cap": CAPTURE})[0] == "gone"
    assert _pick({"gone": None, "signed": SIGNED})[0] == "signed"
    assert _pick({}) == (None, [])
