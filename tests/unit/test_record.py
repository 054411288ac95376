import json
from datetime import UTC, datetime

import pytest

from archive.custody import METHOD_META, Custody
from archive.events import CanonicalEvent
from archive.identity import event_fingerprint
from archive.layout import record_blob_name
from archive.meta.parser import parse_webhook
from archive.record import (
    RECORD_SCHEMA,
    MediaOutcome,
    RawRef,
    build_record,
    record_bytes,
    record_fingerprint,
)
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

RECEIVED = datetime(2024, 5, 31, 16, 9, tzinfo=UTC)
RAW = RawRef(path="year=2024/month=05/day=31/" + "a" * 64 + ".json", sha256="a" * 64)
REQUIRED = {"schema", "event", "direction", "provider", "message_id", "from", "to",
            "conversation", "timestamp", "received_at", "type", "content", "status", "media",
            "raw", "custody", "fingerprint", "fragment"}


def _event(name: str) -> CanonicalEvent:
    return parse_webhook(fixture_bytes(name)).events[0]


def test_record_fields() -> None:
    event = _event("text")
    record = build_record(event, raw=RAW, received_at=RECEIVED)
    assert set(record) == REQUIRED
    assert record["schema"] == RECORD_SCHEMA
    assert record["timestamp"] == "2024-05-31T16:08:37Z"
    assert record["received_at"] == "2024-05-31T16:09:00Z"
    assert record["from"] == "16315551181" and record["to"] == "15550783881"
    assert record["conversation"]["business_id"] == "106540352242922"
    assert record["conversation"]["customer_id"] == "16315551181"
    assert record["raw"] == {"path": RAW.path, "sha256": RAW.sha256}
    assert record["fingerprint"] == event_fingerprint(event)
    assert record["status"] is None and record["media"] == []
    assert record["custody"] is None  # only the pipeline knows how the body was authenticated


def test_custody_is_recorded_and_outside_the_fingerprint() -> None:
    event = _event("text")
    custody = Custody(METHOD_META, "sha256=" + "c" * 64, "0123456789abcdef", RECEIVED)
    record = build_record(event, raw=RAW, received_at=RECEIVED, custody=custody)
    assert record["custody"] == {
        "method": "meta-hmac-sha256", "signed_by": "meta", "signature": "sha256=" + "c" * 64,
        "key_id": "0123456789abcdef", "authenticated_at": "2024-05-31T16:09:00Z",
        "verified": ["front-door", "queue-worker", "store-record"],
    }
    assert record["fingerprint"] == build_record(event, raw=RAW, received_at=RECEIVED)[
        "fingerprint"
    ]


def test_status_record() -> None:
    record = build_record(_event("status_failed"), raw=RAW, received_at=RECEIVED)
    assert record["status"]["value"] == "failed"
    assert record["status"]["errors"][0]["code"] == 131026
    assert set(record["status"]) == {"value", "recipient", "errors", "pricing", "conversation"}


def test_media_outcomes_and_gaps() -> None:
    event = _event("image")
    stored = MediaOutcome(media_id="1003383421387256", state="stored", blob_path="m/x.jpg",
                          sha256="b" * 64, size=1234, mime_type="image/jpeg", reason=None)
    (entry,) = build_record(event, raw=RAW, received_at=RECEIVED, media=[stored])["media"]
    assert entry["state"] == "stored" and entry["size"] == 1234 and entry["sha256"] == "b" * 64
    assert entry["provider_sha256"] == event.media[0].provider_sha256
    gone = MediaOutcome(media_id="1003383421387256", state="unavailable", blob_path=None,
                        sha256=None, size=None, mime_type=None, reason="404 from Graph API")
    (entry,) = build_record(event, raw=RAW, received_at=RECEIVED, media=[gone])["media"]
    assert entry["state"] == "unavailable" and entry["reason"] == "404 from Graph API"
    (entry,) = build_record(event, raw=RAW, received_at=RECEIVED)["media"]
    assert entry["state"] == "not_fetched"


def test_record_bytes_deterministic_and_sorted() -> None:
    event = _event("location")
    a = record_bytes(build_record(event, raw=RAW, received_at=RECEIVED))
    b = record_bytes(build_record(_event("location"), raw=RAW, received_at=RECEIVED))
    assert a == b
    parsed = json.loads(a)
    assert list(parsed) == sorted(parsed)
    assert b"\n" not in a and b": " not in a
    assert record_bytes({"t": "é"}) == '{"t":"é"}'.encode()
    with pytest.raises(ValueError):
        record_bytes({"x": float("nan")})


def test_lone_surrogate_still_serializes_deterministically() -> None:
    body = fixture_bytes("text").replace(b"Please sell", b"\\ud800 sell")
    event = parse_webhook(body).events[0]
    data = record_bytes(build_record(event, raw=RAW, received_at=RECEIVED))
    assert data.isascii()
    assert json.loads(data)["content"]["text"].startswith("\ud800")


def test_redelivery_vs_conflict_by_fingerprint() -> None:
    event = _event("text")
    first = record_bytes(build_record(event, raw=RAW, received_at=RECEIVED))
    redelivered = record_bytes(build_record(
        _event("text"), raw=RawRef("other", "c" * 64), received_at=datetime(2024, 6, 1, tzinfo=UTC)
    ))
    assert first != redelivered
    assert record_fingerprint(first) == record_fingerprint(redelivered)
    changed = fixture_bytes("text").replace(b"100 shares", b"900 shares")
    conflicting_event = parse_webhook(changed).events[0]
    assert record_blob_name(conflicting_event) == record_blob_name(event)
    conflicting = record_bytes(build_record(conflicting_event, raw=RAW, received_at=RECEIVED))
    assert record_fingerprint(conflicting) != record_fingerprint(first)


@pytest.mark.parametrize("data", [b"", b"[]", b"{", b'{"fingerprint": 5}', b"\xff"])
def test_record_fingerprint_of_garbage(data: bytes) -> None:
    assert record_fingerprint(data) is None


def test_naive_received_at_rejected() -> None:
    with pytest.raises(ValueError):
        build_record(_event("text"), raw=RAW, received_at=datetime(2024, 1, 1))
