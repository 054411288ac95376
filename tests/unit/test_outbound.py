import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.outbound import OutboundError, parse_outbound

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


def test_unix_seconds_and_business_id_default() -> None:
    body = {k: v for k, v in VALID.items() if k not in ("from", "media")}
    event = parse_outbound({**body, "timestamp": "1717171717", "type": "text"},
                           business_id="106540352242922")
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


def test_from_must_match_business() -> None:
    with pytest.raises(OutboundError, match="does not match"):
        parse_outbound(VALID, business_id="999")


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
