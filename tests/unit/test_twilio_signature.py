"""Twilio's X-Twilio-Signature: published vectors, URL variants, strict form decoding."""

from __future__ import annotations

import hashlib
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.twilio_signature import (
    compute_signature,
    find_signed_url,
    form_params,
    sign_form,
    signed_url_candidates,
    signing_string,
    verify_twilio,
)

pytestmark = pytest.mark.unit

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TOKEN = "0123456789abcdef0123456789abcdef"
OTHER_TOKEN = "fedcba9876543210fedcba9876543210"
URL = "https://archive.example.com/api/webhooks/twilio"


def doc_params(caller: str) -> list[tuple[str, str]]:
    return [("To", "+18005551212"), ("Digits", "1234"), ("From", caller),
            ("CallSid", "CA1234567890ABCDE"), ("Caller", caller)]


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        # Twilio's documentation example (two published revisions of its phone number).
        ("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="),
    ],
)
def test_published_vectors(caller: str, expected: str) -> None:
    assert compute_signature("12345", DOC_URL, doc_params(caller)) == expected
    body = urllib.parse.urlencode(doc_params(caller)).encode()
    assert verify_twilio(body, expected, DOC_URL, ["wrong-token-0000000", "12345"]) == "12345"


def test_signing_string_sorts_names_then_values() -> None:
    params = [("b", "2"), ("a", "z"), ("a", "y"), ("a", "y")]
    assert signing_string("U", params) == "Uayazb2"


def form(**fields: str) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def test_a_signed_form_verifies_with_the_token_that_signed_it() -> None:
    body = form(MessageSid="SM" + "0" * 32, Body="hi there", From="whatsapp:+15551234567")
    signature = sign_form(TOKEN, URL, body)
    assert verify_twilio(body, signature, URL, [OTHER_TOKEN, TOKEN]) == TOKEN
    assert verify_twilio(body, signature, URL, [OTHER_TOKEN]) is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b, s, u: (b + b"&Extra=1", s, u),  # a parameter added
        lambda b, s, u: (b.replace(b"hi", b"ho"), s, u),  # a value changed
        lambda b, s, u: (b, s, u + "?x=1"),  # another URL (query)
        lambda b, s, u: (b, s, u.replace("https:", "http:")),  # another scheme
        lambda b, s, u: (b, s[:-2] + ("A=" if s[-2] != "A" else "B="), u),  # signature changed
        lambda b, s, u: (b, None, u),  # no signature
        lambda b, s, u: (b, "", u),
        lambda b, s, u: (b, s + "=", u),  # not a SHA-1 in base64
    ],
)
def test_any_change_fails(mutate: object) -> None:
    body = form(MessageSid="SM1", Body="hi there")
    signature = sign_form(TOKEN, URL, body)
    new_body, new_signature, new_url = mutate(body, signature, URL)  # type: ignore[operator]
    assert verify_twilio(new_body, new_signature, new_url, [TOKEN]) is None


@pytest.mark.parametrize(
    "body",
    [b"a=%FF", b"a=1&&b=2", b"noequals", b"a=1&", b"\xff\xfe=1"],
    ids=["bad-percent-utf8", "empty-pair", "no-equals", "trailing-amp", "raw-non-utf8"],
)
def test_bodies_without_strict_form_never_verify(body: bytes) -> None:
    # Whatever signature is presented: there are no parameters to compute it over.
    lenient = urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    signature = compute_signature(TOKEN, URL, lenient)
    assert verify_twilio(body, signature, URL, [TOKEN]) is None


def test_empty_body_signs_the_url_alone() -> None:
    assert form_params(b"") == []
    assert verify_twilio(b"", compute_signature(TOKEN, URL, []), URL, [TOKEN]) == TOKEN


def test_port_variants_are_tried_and_the_signed_one_is_reported() -> None:
    assert signed_url_candidates(URL) == [URL, URL.replace(".com/", ".com:443/")]
    with_port = "https://archive.example.com:443/api/webhooks/twilio?a=1"
    assert signed_url_candidates(with_port) == [with_port, with_port.replace(":443", "")]
    assert signed_url_candidates("https://h.example:8443/x") == ["https://h.example:8443/x"]
    body = form(MessageSid="SM2")
    signed_with_port = URL.replace(".com/", ".com:443/")
    signature = sign_form(TOKEN, signed_with_port, body)
    assert find_signed_url(body, signature, URL, [TOKEN]) == (signed_with_port, TOKEN)
    assert find_signed_url(body, signature, URL + "x", [TOKEN]) is None


def test_json_body_with_body_hash_in_the_url() -> None:
    body = b'{"MessageSid":"SM3"}'
    url = f"{URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = compute_signature(TOKEN, url, [])
    assert verify_twilio(body, signature, url, [TOKEN]) == TOKEN
    assert verify_twilio(body + b" ", signature, url, [TOKEN]) is None
    doubled = f"{url}&bodySHA256={hashlib.sha256(body).hexdigest()}"
    assert verify_twilio(body, compute_signature(TOKEN, doubled, []), doubled, [TOKEN]) is None


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)), max_size=6))
def test_any_encoded_form_round_trips_and_verifies(fields: list[tuple[str, str]]) -> None:
    body = urllib.parse.urlencode(fields).encode()
    assert sorted(form_params(body)) == sorted(fields)
    assert verify_twilio(body, sign_form(TOKEN, URL, body), URL, [TOKEN]) == TOKEN
