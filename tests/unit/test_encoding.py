import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.encoding import decode_id, encode_id, join_segments, key_segment

pytestmark = pytest.mark.unit

_TABLE_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_OUTPUT = re.compile(r"\A[A-Za-z0-9_.~-]+\Z")
_any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["", ".", "..", "/", "+", "=", "%", "~", "\\", "a.", "wamid.HBgL+/==", "\x00\x1f", "~7E",
     "\ud800", "a\udfffb"]
)


def _assert_safe(encoded: str) -> None:
    assert _OUTPUT.match(encoded)
    assert not _TABLE_FORBIDDEN.search(encoded)
    assert encoded not in (".", "..")
    assert not encoded.endswith(".")


@given(_any_text)
def test_round_trip_and_safe(value: str) -> None:
    encoded = encode_id(value)
    _assert_safe(encoded)
    assert decode_id(encoded) == value


@given(_any_text, _any_text)
def test_injective(a: str, b: str) -> None:
    if a != b:
        assert encode_id(a) != encode_id(b)


@given(_any_text, _any_text, _any_text, _any_text)
def test_joined_segments_are_injective(a: str, b: str, c: str, d: str) -> None:
    if (a, b) != (c, d):
        joined_ab = join_segments(encode_id(a), encode_id(b))
        assert joined_ab != join_segments(encode_id(c), encode_id(d))


def test_examples_from_the_contract() -> None:
    assert encode_id("~") == "~7E"
    assert encode_id("wamid.HBgL+/==") == "wamid.HBgL~2B~2F~3D~3D"
    assert encode_id("US.13491208655302741918") == "US.13491208655302741918"
    assert encode_id("") == "~-"
    assert encode_id(".") == "~2E"
    assert encode_id("..") == ".~2E"
    assert encode_id("é") == "~C3~A9"


@pytest.mark.parametrize(
    "bad", ["", "~", "~4", "~zz", "~7e", "a/b", "a b", "~61", "a~2E~2E~", "~C3"]
)
def test_decode_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_id(bad)


@given(st.text(max_size=30))
def test_decode_never_crashes_differently(garbage: str) -> None:
    try:
        decoded = decode_id(garbage)
    except ValueError:
        return
    assert encode_id(decoded) == garbage


def test_key_segment_short_is_reversible_and_long_is_bounded() -> None:
    assert decode_id(key_segment("wamid.abc/+=")) == "wamid.abc/+="
    long_a = "é" * 500
    long_b = "é" * 499 + "e"
    seg_a, seg_b = key_segment(long_a), key_segment(long_b)
    assert len(seg_a) <= 200
    assert seg_a != seg_b
    assert "~h" in seg_a
    _assert_safe(seg_a)
    with pytest.raises(ValueError):
        decode_id(seg_a)


@given(st.text(max_size=400))
def test_key_segment_always_safe_and_bounded(value: str) -> None:
    segment = key_segment(value)
    _assert_safe(segment)
    assert len(segment) <= 200
