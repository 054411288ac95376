"""WASender's session credential never reaches WORM storage, and nothing else changes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.wasender.redact import REDACTED, redact_credentials

pytestmark = pytest.mark.unit


def test_the_session_key_is_replaced_in_place() -> None:
    body = (b'{"event":"messages.update","sessionId":"sk_live_0123456789abcdef",'
            b'"data":{"update":{"status":2}}}')
    redacted, count = redact_credentials(body)
    assert count == 1
    assert b"sk_live_0123456789abcdef" not in redacted
    assert json.loads(redacted) == {"event": "messages.update", "sessionId": REDACTED,
                                    "data": {"update": {"status": 2}}}
    # Everything around the value is byte for byte as delivered.
    assert redacted.startswith(b'{"event":"messages.update","sessionId":"[redacted')
    assert redacted.endswith(b'","data":{"update":{"status":2}}}')


def test_nested_session_id_and_escapes() -> None:
    body = (b'{"event":"session.status","data":{"status":"connected",'
            b'"session_id":"ab\\"cd\\\\"}, "sessionId" : "k\\u0041y"}')
    redacted, count = redact_credentials(body)
    assert count == 2
    data = json.loads(redacted)
    assert data["sessionId"] == REDACTED and data["data"]["session_id"] == REDACTED
    assert b"k\\u0041y" not in redacted and b'ab\\"cd' not in redacted


def test_text_that_mentions_the_key_is_not_touched() -> None:
    body = json.dumps({"data": {"messages": {"messageBody": 'send "sessionId":"x" now'}}},
                      separators=(",", ":")).encode()
    assert redact_credentials(body) == (body, 0)


def test_non_string_values_and_non_json_bodies_stay() -> None:
    assert redact_credentials(b'{"sessionId":12}') == (b'{"sessionId":12}', 0)
    assert redact_credentials(b"not json") == (b"not json", 0)


def test_a_duplicate_key_is_still_redacted() -> None:
    redacted, count = redact_credentials(b'{"sessionId":"a-secret","sessionId":"b-secret"}')
    assert count == 2 and b"secret" not in redacted


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["sessionId", "session_id", "a", "text"]) | st.text(),
                      children, max_size=4),
    max_leaves=20,
))
def test_no_string_credential_survives_and_the_rest_is_equal(value: object) -> None:
    body = json.dumps({"sessionId": "k-" + "9" * 20, "data": value}).encode()
    redacted, _ = redact_credentials(body)
    after = json.loads(redacted)

    def check(before: object, now: object) -> None:
        if isinstance(before, dict):
            assert isinstance(now, dict) and set(before) == set(now)
            for key in before:
                if key in ("sessionId", "session_id") and isinstance(before[key], str):
                    assert now[key] == REDACTED
                else:
                    check(before[key], now[key])
        elif isinstance(before, list):
            assert isinstance(now, list) and len(before) == len(now)
            for b, n in zip(before, now, strict=True):
                check(b, n)
        else:
            assert before == now

    check(json.loads(body), after)
