"""Event Grid validation handshake and CloudEvents abuse-protection handshake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.acs.handshake import options_response_headers, validation_response

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acs"
VALIDATION = (FIXTURES / "validation.json").read_bytes()
CODE = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"


def with_code(code: object) -> bytes:
    doc = json.loads(VALIDATION)
    doc[0]["data"]["validationCode"] = code
    return json.dumps(doc).encode()


def test_validation_event_is_answered_with_its_code() -> None:
    answer = validation_response(VALIDATION)
    assert answer is not None
    assert json.loads(answer) == {"validationResponse": CODE}
    assert answer == b'{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}'


@pytest.mark.parametrize("name", ["text_received", "status_sent", "unknown_event_type",
                                  "text_received_cloudevent", "batch_mixed"])
def test_deliveries_are_not_handshakes(name: str) -> None:
    assert validation_response((FIXTURES / f"{name}.json").read_bytes()) is None


def test_a_batch_mixing_validation_and_events_is_not_a_handshake() -> None:
    mixed = json.loads(VALIDATION) + json.loads((FIXTURES / "text_received.json").read_bytes())
    assert validation_response(json.dumps(mixed).encode()) is None
    twice = json.loads(VALIDATION) * 2
    assert validation_response(json.dumps(twice).encode()) is None


@pytest.mark.parametrize("body", [
    b"", b"not json", b"{}", b"[]", b"[1]", json.dumps(json.loads(VALIDATION)[0]).encode(),
    json.dumps([{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent"}]).encode(),
    json.dumps([{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                 "data": {"validationUrl": "https://x"}}]).encode(),
    json.dumps([{"specversion": "1.0", "type": "Microsoft.EventGrid.SubscriptionValidationEvent",
                 "data": {"validationCode": CODE}}]).encode(),
])
def test_malformed_validation_bodies_are_refused(body: bytes) -> None:
    assert validation_response(body) is None


@pytest.mark.parametrize("code", [
    "<script>alert(1)</script>", "a b", "x" * 129, "abc\r\nSet-Cookie: a=b", "ünï", "", 42, None,
])
def test_codes_outside_the_safe_alphabet_are_not_reflected(code: object) -> None:
    assert validation_response(with_code(code)) is None


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_validation_never_raises(body: bytes) -> None:
    answer = validation_response(body)
    assert answer is None or json.loads(answer).keys() == {"validationResponse"}


def test_options_handshake_echoes_the_origin_and_grants_the_rate() -> None:
    headers = options_response_headers(
        {"WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "120"})
    assert headers == {"WebHook-Allowed-Origin": "eventgrid.azure.net",
                       "WebHook-Allowed-Rate": "120", "Allow": "POST, OPTIONS"}


def test_options_handshake_without_a_rate_answers_unlimited() -> None:
    headers = options_response_headers({"webhook-request-origin": " eventgrid.azure.net "})
    assert headers == {"WebHook-Allowed-Origin": "eventgrid.azure.net",
                       "WebHook-Allowed-Rate": "*", "Allow": "POST, OPTIONS"}


@pytest.mark.parametrize("headers", [
    {},
    {"WebHook-Request-Rate": "120"},
    {"WebHook-Request-Origin": ""},
    {"WebHook-Request-Origin": "eventgrid.azure.net\r\nSet-Cookie: a=b"},
    {"WebHook-Request-Origin": "event\x00grid.azure.net"},
    {"WebHook-Request-Origin": "evil.example, eventgrid.azure.net"},
    {"WebHook-Request-Origin": "https://eventgrid.azure.net"},
    {"WebHook-Request-Origin": "*"},
    {"WebHook-Request-Origin": "-bad-.example"},
    {"WebHook-Request-Origin": "a" * 64 + ".example"},
    {"WebHook-Request-Origin": ".".join(["abcdefghij"] * 24)},
    {"WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "0"},
    {"WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "-5"},
    {"WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "12x"},
    {"WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "9" * 12},
])
def test_invalid_options_handshakes_are_refused(headers: dict[str, str]) -> None:
    assert options_response_headers(headers) is None


def test_origins_can_be_restricted() -> None:
    asked = {"WebHook-Request-Origin": "EventGrid.Azure.NET"}
    allowed = options_response_headers(asked, allowed_origins=["eventgrid.azure.net"])
    assert allowed is not None and allowed["WebHook-Allowed-Origin"] == "EventGrid.Azure.NET"
    assert options_response_headers({"WebHook-Request-Origin": "evil.example"},
                                    allowed_origins=["eventgrid.azure.net"]) is None


@settings(max_examples=300)
@given(st.text(max_size=80), st.none() | st.text(max_size=12))
def test_an_answered_origin_is_always_a_plain_dns_name(origin: str, rate: str | None) -> None:
    headers = {"WebHook-Request-Origin": origin}
    if rate is not None:
        headers["WebHook-Request-Rate"] = rate
    answer = options_response_headers(headers)
    if answer is not None:
        value = answer["WebHook-Allowed-Origin"]
        assert value.isascii() and all(c.isalnum() or c in ".-" for c in value)
        assert answer["WebHook-Allowed-Rate"] == "*" or answer["WebHook-Allowed-Rate"].isdigit()
