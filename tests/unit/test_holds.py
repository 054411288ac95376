"""Legal-hold rules without I/O: matter validation, which matters bind a record, the cache."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from archive.events import CanonicalEvent
from archive.holds import (
    HoldError,
    Matter,
    any_covers,
    event_view,
    matters_covering,
    new_matter,
    referenced_blobs,
    validate_matter_id,
    validate_reason,
)
from archive.scope import Scope
from storage.blob_versions import BlobVersion
from storage.hold_apply import VersionOps, change_versions
from storage.holds import HoldCache, cache_ttl

pytestmark = pytest.mark.unit

PLACED = datetime(2026, 11, 28, 9, tzinfo=UTC)


def matter(matter_id: str, scope: Scope, state: str = "active") -> Matter:
    base = new_matter(matter_id, scope, "litigation", "alice@host", PLACED)
    extra: dict[str, Any] = {}
    if state in ("releasing", "released"):
        extra = {"released_by": "bob@host", "released_at": PLACED}
    return Matter(**{**base.__dict__, "state": state, **extra})


def record(customer: str = "15551234567", day: str = "2026-11-20",
           message_id: str = "wamid.A=") -> dict[str, Any]:
    return {
        "message_id": message_id, "timestamp": f"{day}T10:00:00Z", "from": customer,
        "to": "106540352242922",
        "conversation": {"business_id": "106540352242922", "customer_id": customer},
    }


@pytest.mark.parametrize("bad", ["", "   ", "a/b", "a\\b", "a#b", "a?b", "a\x00b", "x" * 65,
                                 "a\u0085b"])
def test_matter_ids_unsafe_as_table_keys_are_refused(bad: str) -> None:
    with pytest.raises(HoldError):
        validate_matter_id(bad)


def test_matter_id_and_reason_are_stripped_and_kept() -> None:
    assert validate_matter_id("  CASE-2026/1".replace("/", "-") + " ") == "CASE-2026-1"
    assert validate_reason(" SEC subpoena\nline two ") == "SEC subpoena\nline two"


@pytest.mark.parametrize("bad", ["", "  ", "x" * 1001, "bell\x07"])
def test_reasons_must_be_present_bounded_and_printable(bad: str) -> None:
    with pytest.raises(HoldError):
        validate_reason(bad)


def test_a_released_matter_must_say_who_and_when() -> None:
    base = new_matter("M1", Scope(participant="1"), "why", "alice", PLACED)
    with pytest.raises(HoldError):
        Matter(**{**base.__dict__, "state": "released"})
    with pytest.raises(HoldError):
        Matter(**{**base.__dict__, "state": "gone"})
    with pytest.raises(ValueError):
        new_matter("M1", Scope(participant="1"), "why", "alice", datetime(2026, 1, 1))


@pytest.mark.parametrize(("state", "binding"), [
    ("applying", True), ("active", True), ("releasing", False), ("released", False)])
def test_a_hold_binds_from_placing_until_its_release_starts(state: str, binding: bool) -> None:
    held = matter("M1", Scope(participant="15551234567"), state)
    assert held.in_force is binding
    assert matters_covering(record(), [held]) == (["M1"] if binding else [])


def test_matters_covering_is_sorted_and_scope_exact() -> None:
    matters = [
        matter("Z-conv", Scope(business_id="106540352242922", customer_id="15551234567")),
        matter("A-part", Scope(participant="15551234567", start=date(2026, 11, 1),
                               end=date(2026, 11, 30))),
        matter("M-msg", Scope(message_id="wamid.B=")),
        matter("late", Scope(participant="15551234567", start=date(2026, 12, 1))),
    ]
    assert matters_covering(record(), matters) == ["A-part", "Z-conv"]
    assert matters_covering(record(message_id="wamid.B="), matters) == [
        "A-part", "M-msg", "Z-conv"]
    assert matters_covering(record(customer="19995550000"), matters) == []


def test_any_covers_sees_one_covered_event_among_many() -> None:
    other = matter("M2", Scope(participant="19995550000"))
    events = [record(), record(customer="19995550000")]
    assert any_covers(events, [other]) is True
    assert any_covers([record()], [other]) is False
    assert any_covers(events, [matter("M3", Scope(participant="19995550000"), "released")]) \
        is False


def test_event_view_is_what_scope_covers_reads() -> None:
    event = CanonicalEvent(
        provider="meta", event="message", direction="inbound", message_id="wamid.X",
        sender="15551234567", recipient="106540352242922", business_id="106540352242922",
        customer_id="15551234567", timestamp=datetime(2026, 11, 20, 10, tzinfo=UTC),
        type="text",
    )
    view = event_view(event)
    assert Scope(participant="15551234567").covers(view)
    assert Scope(business_id="106540352242922", customer_id="15551234567").covers(view)
    assert not Scope(participant="15551234567", end=date(2026, 11, 19)).covers(view)


def test_referenced_blobs_of_records_and_addenda() -> None:
    rec = {"media": [{"state": "stored", "blob_path": "a/1.jpg"},
                     {"state": "unavailable", "blob_path": None}],
           "raw": {"path": "year=2026/x.json", "sha256": "00"}}
    assert referenced_blobs(rec) == (["a/1.jpg"], "year=2026/x.json")
    addendum = {"media": {"state": "stored", "blob_path": "a/2.ogg"}, "record": "r.json"}
    assert referenced_blobs(addendum) == (["a/2.ogg"], None)
    assert referenced_blobs({}) == ([], None)


def test_cache_reloads_only_after_its_ttl() -> None:
    loads: list[int] = []
    now = [0.0]
    found = [matter("M1", Scope(participant="1")), matter("M0", Scope(participant="1"),
                                                           "released")]

    def load() -> list[Matter]:
        loads.append(1)
        return found

    cache = HoldCache(load, ttl=60, clock=lambda: now[0])
    assert [m.matter_id for m in cache.in_force()] == ["M1"]  # released ones never cached
    now[0] = 59.9
    cache.in_force()
    assert len(loads) == 1
    now[0] = 60.0
    cache.in_force()
    assert len(loads) == 2
    cache.invalidate()
    cache.in_force()
    assert len(loads) == 3


def test_a_failed_refresh_raises_rather_than_reporting_no_hold() -> None:
    def load() -> list[Matter]:
        raise OSError("table unreachable")

    with pytest.raises(OSError):
        HoldCache(load).in_force()


@pytest.mark.parametrize(("value", "ttl"), [("", 60.0), ("5", 5.0), ("0", 1.0), ("600", 60.0),
                                            ("soon", 60.0)])
def test_cache_ttl_may_be_lowered_never_raised(value: str, ttl: float) -> None:
    assert cache_ttl({"HOLD_CACHE_SECONDS": value}) == ttl


def version(vid: str | None, held: bool) -> BlobVersion:
    return BlobVersion("records", "r.json", vid, vid == "v2", 10, held, None, None)


def test_change_versions_sets_each_unheld_version_once() -> None:
    calls: list[tuple[str | None, bool]] = []

    def set_hold(_c: Any, v: BlobVersion, on: bool) -> str:
        calls.append((v.version_id, on))
        return "set"

    ops = VersionOps(set_legal_hold=set_hold)
    versions = [version("v1", True), version("v2", False)]
    assert change_versions(None, versions, True, ops) == "set"  # type: ignore[arg-type]
    assert calls == [("v2", True)]
    calls.clear()
    assert change_versions(None, versions, False, ops) == "set"  # type: ignore[arg-type]
    assert calls == [("v1", False)]
    calls.clear()
    assert change_versions(None, [version("v1", True)], True, ops) == "already"  # type: ignore[arg-type]
    assert calls == []
    assert change_versions(None, [], True, ops) == "gone"  # type: ignore[arg-type]
