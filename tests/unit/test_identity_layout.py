import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.encoding import decode_id
from archive.events import CanonicalEvent, MediaRef, StatusInfo
from archive.export.bundle import day_of_blob
from archive.identity import event_fingerprint, event_instance_id
from archive.layout import (
    SMALL_MEDIA_MAX_BYTES,
    SMALL_MEDIA_PREFIX,
    conflict_blob_name,
    extension_for_mime,
    is_small_media,
    media_blob_name,
    media_names_to_check,
    partition_name,
    raw_blob_name,
    record_blob_name,
    sized_media_name,
)
from archive.meta.parser import parse_webhook
from archive.names import MEDIA_CONTAINER, RECORDS_CONTAINER
from archive.retention import partition_day
from archive.seal import in_day, partition_prefixes
from tests.unit._meta_fixtures import fixture_bytes, fixture_names

pytestmark = pytest.mark.unit

_INSTANCE_SAFE = re.compile(r"\A[\x21-\x7e]{1,100}\Z")
T = datetime(2024, 5, 31, 16, 8, 37, tzinfo=UTC)


def _event(**changes: object) -> CanonicalEvent:
    base = CanonicalEvent(
        provider="meta", event="message", direction="inbound", message_id="wamid.AB/+=",
        sender="16315551181", recipient="15550783881", business_id="106540352242922",
        customer_id="16315551181", timestamp=T, type="text", content={"text": "hi"},
        fragment={"id": "wamid.AB/+="},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _status(value: str, ts: datetime = T) -> CanonicalEvent:
    return _event(event="status", direction="outbound", type="status", timestamp=ts,
                  status=StatusInfo(value=value, recipient="16315551181"), content={})


def _all_fixture_events() -> list[CanonicalEvent]:
    return [e for name in fixture_names() for e in parse_webhook(fixture_bytes(name)).events]


def test_instance_ids_are_safe_and_distinct_across_fixtures() -> None:
    events = _all_fixture_events()
    ids = [event_instance_id(e) for e in events]
    for instance in ids:
        assert _INSTANCE_SAFE.match(instance)
        assert not set(instance) & set("/\\?#")
    assert len(set(ids)) == len(ids)
    # Fixtures reuse one wamid for different content (a conflict): same name, by design.
    by_identity = {
        (e.message_id, e.event, e.status.value if e.status else None, e.timestamp): e
        for e in events
    }
    names = [record_blob_name(e) for e in by_identity.values()]
    assert len(set(names)) == len(names)


def test_statuses_of_one_wamid_are_distinct() -> None:
    delivered, read = _status("delivered"), _status("read")
    assert event_instance_id(delivered) != event_instance_id(read)
    assert record_blob_name(delivered) != record_blob_name(read)
    later = _status("read", datetime(2024, 5, 31, 17, tzinfo=UTC))
    assert event_instance_id(read) != event_instance_id(later)


def test_message_and_its_reaction_are_distinct() -> None:
    message = _event()
    reaction = _event(event="reaction", type="reaction", content={"reaction": {"emoji": "x"}})
    assert event_instance_id(message) != event_instance_id(reaction)
    assert record_blob_name(message) != record_blob_name(reaction)


def test_redelivery_has_same_ids_and_fingerprint() -> None:
    first = parse_webhook(fixture_bytes("text"), received_at=T).events[0]
    again = parse_webhook(fixture_bytes("text"), received_at=datetime(2025, 1, 1, tzinfo=UTC))
    second = again.events[0]
    assert event_instance_id(first) == event_instance_id(second)
    assert event_fingerprint(first) == event_fingerprint(second)
    assert record_blob_name(first) == record_blob_name(second)


def test_fallback_time_does_not_change_identity() -> None:
    a = parse_webhook(fixture_bytes("missing_timestamp"), received_at=T).events[0]
    b = parse_webhook(fixture_bytes("missing_timestamp"),
                      received_at=datetime(2024, 6, 1, tzinfo=UTC)).events[0]
    assert event_instance_id(a) == event_instance_id(b)
    assert event_fingerprint(a) == event_fingerprint(b)


def test_conflicting_version_gets_its_own_instance_but_same_record_name() -> None:
    a, b = _event(), _event(content={"text": "changed"})
    assert event_fingerprint(a) != event_fingerprint(b)
    assert event_instance_id(a) != event_instance_id(b)
    assert record_blob_name(a) == record_blob_name(b)


def test_record_blob_name_layout() -> None:
    name = record_blob_name(_event())
    assert name == (
        "year=2024/month=05/day=31/meta/106540352242922~~16315551181/"
        "wamid.AB~2F~2B~3D/01717171717-message-inbound.json"
    )
    assert decode_id(name.split("/")[5]) == "wamid.AB/+="
    assert record_blob_name(_status("read")).endswith("/01717171717-status-outbound-read.json")


def test_record_name_uses_provider_time_in_utc() -> None:
    from datetime import timedelta, timezone

    local = T.astimezone(timezone(timedelta(hours=-10)))
    assert local.day == 31 or local.day == 30
    assert record_blob_name(_event(timestamp=local)).startswith("year=2024/month=05/day=31/")


def test_raw_and_conflict_names() -> None:
    sha = "ab" * 32
    assert raw_blob_name(sha, datetime(2024, 1, 2, 23, 59, tzinfo=UTC)) == (
        f"year=2024/month=01/day=02/{sha}.json"
    )
    with pytest.raises(ValueError):
        raw_blob_name("../etc", T)
    with pytest.raises(ValueError):
        raw_blob_name(sha, datetime(2024, 1, 2))
    record = record_blob_name(_event())
    conflict = conflict_blob_name(record, "cd" * 32)
    assert conflict == record[: -len(".json")] + ".conflict-" + "cd" * 32 + ".json"
    assert conflict != record
    with pytest.raises(ValueError):
        conflict_blob_name(record, "nothex")


@pytest.mark.parametrize(
    ("mime", "ext"),
    [("image/jpeg", ".jpg"), ("audio/ogg; codecs=opus", ".ogg"), ("application/pdf", ".pdf"),
     ("video/mp4", ".mp4"), ("image/webp", ".webp"), ("IMAGE/PNG", ".png"), (None, ".bin"),
     ("application/x-unknown", ".bin")],
)
def test_extension_for_mime(mime: str | None, ext: str) -> None:
    assert extension_for_mime(mime) == ext


def test_media_blob_name() -> None:
    ref = MediaRef(media_id="1003383421387256", mime_type="image/jpeg", provider_sha256=None,
                   filename=None, kind="image")
    name = media_blob_name(_event(media=(ref,)), ref, "image/jpeg")
    assert name.endswith("/wamid.AB~2F~2B~3D/1003383421387256.jpg")
    assert name.startswith("year=2024/month=05/day=31/meta/")


def test_small_media_rule_and_its_boundary() -> None:
    # Issue 14: a tier change costs a write per blob, so tiny media stay out of the
    # lifecycle rule's `media/year=` prefix (break-even ~24 KiB: docs/cost.md).
    assert SMALL_MEDIA_MAX_BYTES == 24 * 1024 and SMALL_MEDIA_PREFIX == "small/"
    ref = MediaRef(media_id="1003383421387256", mime_type="audio/ogg", provider_sha256=None,
                   filename=None, kind="audio")
    event = _event(media=(ref,))
    base = media_blob_name(event, ref, "audio/ogg")
    below = media_blob_name(event, ref, "audio/ogg", SMALL_MEDIA_MAX_BYTES - 1)
    at = media_blob_name(event, ref, "audio/ogg", SMALL_MEDIA_MAX_BYTES)
    assert below == "small/" + base and below.startswith("small/year=2024/month=05/day=31/")
    assert at == base and at.startswith("year=2024/month=05/day=31/meta/")
    assert media_blob_name(event, ref, "audio/ogg", 0).startswith("small/")
    assert (is_small_media(SMALL_MEDIA_MAX_BYTES - 1), is_small_media(SMALL_MEDIA_MAX_BYTES)) \
        == (True, False)
    assert sized_media_name(base, 10**8) == base
    # Deterministic: the same item and size always give the same name.
    assert media_blob_name(event, ref, "audio/ogg", 100) == below
    assert partition_name(below) == base and partition_name(base) == base


def test_where_a_committed_media_blob_is_looked_for() -> None:
    name = "year=2024/month=05/day=31/meta/c/m/1.ogg"
    assert media_names_to_check(name, SMALL_MEDIA_MAX_BYTES - 1) == ("small/" + name,)
    assert media_names_to_check(name, SMALL_MEDIA_MAX_BYTES) == (name,)
    assert media_names_to_check(name, None) == (name, "small/" + name)


def test_a_day_of_small_media_is_sealed_and_dated() -> None:
    day = date(2024, 5, 31)
    small = "small/year=2024/month=05/day=31/meta/c/m/1.ogg"
    assert (MEDIA_CONTAINER, "small/year=2024/month=05/day=31/") in partition_prefixes(day)
    assert in_day(MEDIA_CONTAINER, small, day)
    assert not in_day(MEDIA_CONTAINER, small, date(2024, 5, 30))
    assert not in_day(RECORDS_CONTAINER, small, day)  # only media have small ones
    assert partition_day(small) == day and day_of_blob(small) == day


@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=60))
def test_names_safe_for_arbitrary_ids(message_id: str, business: str, customer: str) -> None:
    event = _event(message_id=message_id, business_id=business, customer_id=customer)
    name = record_blob_name(event)
    assert name.isascii() and len(name) < 1024
    assert not set(name) & set("\\?#") and not re.search(r"[\x00-\x1f]", name)
    segments = name.split("/")
    assert len(segments) == 7
    assert all(s and s not in (".", "..") and not s.endswith(".") for s in segments)
    assert _INSTANCE_SAFE.match(event_instance_id(event))
