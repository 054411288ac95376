from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.events import CanonicalEvent, MediaRef, StatusInfo, conversation_key_of
from archive.timestamps import from_iso, from_unix_seconds, iso_utc

pytestmark = pytest.mark.unit

T = datetime(2024, 5, 31, 16, 8, 37, tzinfo=UTC)


def _event(**kw: object) -> CanonicalEvent:
    fields: dict[str, object] = dict(
        provider="meta", event="status", direction="outbound", message_id="wamid.X",
        sender="1", recipient="2", business_id="1", customer_id="2", timestamp=T, type="status",
        content={"a": [1, 2]}, status=StatusInfo("failed", "2", ({"code": 1},), {"p": 1}, None),
        media=(MediaRef("m1", "image/png", "s", None, "image"),), fragment={"id": "wamid.X"},
    )
    fields.update(kw)
    return CanonicalEvent(**fields)  # type: ignore[arg-type]


def test_dict_round_trip() -> None:
    event = _event()
    assert CanonicalEvent.from_dict(event.to_dict()) == event
    assert event.to_dict()["timestamp"] == "2024-05-31T16:08:37Z"


def test_validation() -> None:
    with pytest.raises(ValueError):
        _event(event="nope")
    with pytest.raises(ValueError):
        _event(direction="sideways")
    with pytest.raises(ValueError):
        _event(timestamp=datetime(2024, 1, 1))


def test_timestamp_normalized_to_utc() -> None:
    local = T.astimezone(timezone(timedelta(hours=5)))
    assert _event(timestamp=local).timestamp.utcoffset() == timedelta(0)


@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=30), st.text(max_size=30))
def test_conversation_key_injective(a: str, b: str, c: str, d: str) -> None:
    k1 = _event(business_id=a, customer_id=b).conversation_key()
    k2 = _event(business_id=c, customer_id=d).conversation_key()
    assert (k1 == k2) == ((a, b) == (c, d))
    assert k1 == conversation_key_of(a, b)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1717171717", T), (1717171717, T), ("", None), ("-1", None), ("1.5", None), (True, None),
     (None, None), ("9" * 40, None), ("١٢٣", None), (10**20, None)],
)
def test_unix_seconds(raw: object, expected: datetime | None) -> None:
    assert from_unix_seconds(raw) == expected


def test_iso() -> None:
    assert from_iso("2024-05-31T16:08:37Z") == T
    assert from_iso("2024-05-31T18:08:37+02:00") == T
    assert from_iso("2024-05-31T16:08:37") is None
    assert from_iso("garbage") is None
    assert iso_utc(T.replace(microsecond=5)) == "2024-05-31T16:08:37.000005Z"
    with pytest.raises(ValueError):
        iso_utc(datetime(2024, 1, 1))
