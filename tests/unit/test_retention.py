"""Retention rules, plans and certificates (pure): no storage, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from archive.canonical import canonical_json
from archive.disposal import (
    CertificateError,
    Execution,
    build_certificate,
    disposed_records,
    parse_certificate,
    waits_for_kept,
)
from archive.holds import Matter, new_matter
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER, SEALS_CONTAINER
from archive.retention import (
    BLOB_LEGAL_HOLD,
    Plan,
    PlanError,
    PlannedBlob,
    RawEvent,
    RecordCandidate,
    VersionInfo,
    certificate_name,
    cutoff_day,
    decide_raw,
    decide_record,
    document_facts,
    media_plan,
    new_run_id,
    partition_day,
)
from archive.scope import Scope
from archive.seal import Leaf, counts_of, in_day, new_seal, parse_seal_document
from archive.seal_check import check_seal

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 28, 4, 30, tzinfo=UTC)
CUTOFF = date(2026, 11, 1)
OLD = "year=2026/month=10/day=05/meta/biz~~15550000002/wamid.x/01759665600-message-inbound.json"


def facts(sender: str = "15550000002", day: str = "2026-10-05") -> dict[str, str]:
    return {"timestamp": f"{day}T12:00:00Z", "from": sender, "to": "15550783881",
            "message_id": "wamid.x", "business_id": "biz", "customer_id": sender}


def matter(participant: str, state: str = "applying") -> Matter:
    placed = new_matter("M-1", Scope(participant=participant), "litigation", "counsel", NOW)
    if state == "applying":
        return placed
    return Matter(placed.matter_id, placed.scope, placed.reason, placed.placed_by,
                  placed.placed_at, "released", "counsel", NOW)


def candidate(name: str = OLD, *, versions: tuple[VersionInfo, ...] | None = None,
              sender: str = "15550000002", day: str = "2026-10-05",
              media: tuple[str, ...] = ()) -> RecordCandidate:
    return RecordCandidate(name, facts(sender, day), versions or (VersionInfo(None, 10, "a" * 64),),
                           "year=2026/month=10/day=05/" + "b" * 64 + ".json", media,
                           (("IndexByDay", "2026-10-05", "r1"),), "wamid.x")


def test_cutoff_and_partition_days() -> None:
    assert cutoff_day(NOW, 27) == CUTOFF
    assert cutoff_day(datetime(2026, 11, 28, 23, 59, tzinfo=UTC), 1) == date(2026, 11, 27)
    with pytest.raises(ValueError):
        cutoff_day(NOW, 0)
    assert partition_day(OLD) == date(2026, 10, 5)
    assert partition_day("daily/0000000001.json") is None
    assert partition_day("year=2026/month=13/day=01/x") is None
    run = new_run_id(NOW, "abcd1234")
    assert run == "20261128T043000Z-abcd1234"
    assert certificate_name(run, NOW) == f"disposals/year=2026/month=11/day=28/{run}.json"


def test_a_record_goes_only_when_expired_unheld_and_unprotected() -> None:
    assert decide_record(candidate(), [], CUTOFF, NOW).going
    recent = decide_record(candidate(day="2026-11-01"), [], CUTOFF, NOW)
    assert not recent.going and recent.skip == "not_expired"
    held = decide_record(candidate(), [matter("15550000002")], CUTOFF, NOW)
    assert (held.going, held.held_by) == (False, ("M-1",))
    # A released matter binds nothing; another participant's matter neither.
    assert decide_record(candidate(), [matter("15550000002", "released")], CUTOFF, NOW).going
    assert decide_record(candidate(), [matter("15559999999")], CUTOFF, NOW).going
    flagged = (VersionInfo("v1", 10, None, legal_hold=True), VersionInfo("v2", 10, None))
    assert decide_record(candidate(versions=flagged), [], CUTOFF, NOW).held_by == (
        BLOB_LEGAL_HOLD,)
    locked = (VersionInfo("v1", 10, None, immutable_until=NOW + timedelta(days=1)),)
    assert decide_record(candidate(versions=locked), [], CUTOFF, NOW).skip == "immutable"
    expired = (VersionInfo("v1", 10, None, immutable_until=NOW - timedelta(days=1)),)
    assert decide_record(candidate(versions=expired), [], CUTOFF, NOW).going


def test_a_raw_body_goes_only_when_every_event_goes() -> None:
    free = RawEvent("r-free", facts("15550000002"))
    held = RawEvent("r-held", facts("15550000001"))
    asked: list[str] = []

    def exists(name: str) -> bool:
        asked.append(name)
        return name == "r-held"

    going = {"r-free"}.__contains__
    assert decide_raw([free], going, exists, [], CUTOFF).going and asked == []
    shared = decide_raw([free, held], going, exists, [matter("15550000001")], CUTOFF)
    assert (shared.going, shared.held_by) == (False, ("M-1",))
    # Unheld, but the other event's record still exists and is not in this plan.
    assert decide_raw([free, held], going, exists, [], CUTOFF).skip == "record_stays"
    assert asked == ["r-held"]
    # Its record already gone (an earlier run): the body may go.
    gone = RawEvent("r-gone", facts())
    assert decide_raw([free, gone], going, exists, [], CUTOFF).going
    late = RawEvent("r-late", facts(day="2026-11-05"))
    assert decide_raw([free, late], going, exists, [], CUTOFF).skip == "event_not_expired"


def test_media_stays_while_any_record_that_names_it_stays() -> None:
    a = candidate("a", media=("m-shared", "m-a"))
    b = candidate("b", media=("m-shared",), sender="15550000001")
    decisions = {"a": decide_record(a, [], CUTOFF, NOW),
                 "b": decide_record(b, [matter("15550000001")], CUTOFF, NOW)}
    going, held = media_plan([a, b], decisions)
    assert going == {"m-a": ("a",)} and held == {"m-shared": ("M-1",)}


def test_addenda_take_their_facts_from_the_event_skeleton() -> None:
    addendum = {"schema": "wa-archive/media-recovery@1", "record": {"path": OLD},
                "event": {"timestamp": "2026-10-05T12:00:00Z", "sender": "15550000002",
                          "recipient": "x", "message_id": "wamid.x", "business_id": "biz",
                          "customer_id": "15550000002"}}
    assert document_facts(addendum) == facts() | {"to": "x"}
    assert document_facts({"schema": "something else"}) is None


def plan_with_blobs() -> Plan:
    plan = Plan("run-1", NOW, 27, CUTOFF)
    record = PlannedBlob(RECORDS_CONTAINER, OLD, (VersionInfo("v1", 10, "a" * 64),
                                                  VersionInfo("v2", 12, "c" * 64)),
                         "daily/0000000007.json", facts=facts(),
                         rows=(("IndexByDay", "2026-10-05", "r1"),), message="wamid.x")
    media = PlannedBlob(MEDIA_CONTAINER, OLD.replace(".json", ".jpg"),
                        (VersionInfo(None, 99, "d" * 64),), None, after=(OLD,))
    plan.blobs += [record, media]
    plan.hold(RECORDS_CONTAINER, "held-record", ["M-1"])
    plan.hold(RECORDS_CONTAINER, "held-record", ["M-1"])  # listed once
    plan.skip(RAW_CONTAINER, "r", "immutable")
    return plan


def test_a_plan_survives_its_document_and_rejects_other_documents() -> None:
    plan = plan_with_blobs()
    again = Plan.from_document(plan.to_document())
    assert again.blobs == plan.blobs and again.cutoff == CUTOFF and again.run_id == "run-1"
    assert again.held == {"M-1": [(RECORDS_CONTAINER, "held-record")]}
    assert again.summary()["would_delete"] == {RECORDS_CONTAINER: 1, MEDIA_CONTAINER: 1}
    with pytest.raises(PlanError):
        Plan.from_document(b'{"schema": "wa-archive/seal@1"}')
    with pytest.raises(PlanError):
        Plan.from_document(b"not json")


def test_certificate_lists_only_fully_disposed_blobs_and_verify_can_read_it() -> None:
    plan = plan_with_blobs()
    record, media = plan.blobs
    partial = Execution({(RECORDS_CONTAINER, OLD, "v1"): "deleted",
                         (RECORDS_CONTAINER, OLD, "v2"): "immutable"})
    assert disposed_records(plan, partial) == set()
    assert waits_for_kept(media, disposed_records(plan, partial))

    done = Execution({(RECORDS_CONTAINER, OLD, "v1"): "gone",  # deleted before a crash
                      (RECORDS_CONTAINER, OLD, "v2"): "deleted",
                      (MEDIA_CONTAINER, media.name, None): "deleted"}, index_rows=1)
    done.hold(record, [BLOB_LEGAL_HOLD])  # (shape only: a held blob is listed by matter)
    doc = build_certificate(plan, done, completed_at=NOW, completed_by="run-2")
    assert doc["resumed"] is True and doc["completed_by"] == "run-2"
    assert doc["counts"]["deleted"] == {RECORDS_CONTAINER: 1, MEDIA_CONTAINER: 1}
    assert doc["counts"]["versions"] == 3 and doc["counts"]["bytes"] == 121
    assert [d["outcome"] for d in doc["disposed"]] == ["gone", "deleted", "deleted"]
    assert {d["seal"] for d in doc["disposed"]} == {"daily/0000000007.json", None}
    assert [h["matter"] for h in doc["held"]] == ["M-1", BLOB_LEGAL_HOLD]
    cert = parse_certificate(canonical_json(doc))
    assert cert.covers(RECORDS_CONTAINER, OLD, "a" * 64)
    assert cert.covers(RECORDS_CONTAINER, OLD, "c" * 64)
    assert not cert.covers(RECORDS_CONTAINER, OLD, "e" * 64)  # other bytes: not disposed
    assert not cert.covers(RAW_CONTAINER, OLD, "a" * 64)
    with pytest.raises(CertificateError):
        parse_certificate(b'{"schema": "wa-archive/disposal@1"}')


def test_disposal_certificates_are_sealed_with_their_day_and_old_seals_keep_counts() -> None:
    day = date(2026, 11, 28)
    cert = f"disposals/year=2026/month=11/day=28/{new_run_id(NOW, 'a')}.json"
    assert in_day(SEALS_CONTAINER, cert, day)
    assert not in_day(SEALS_CONTAINER, cert, day - timedelta(days=1))
    assert not in_day(SEALS_CONTAINER, "disposals/pending/x.json", day)
    assert not in_day(SEALS_CONTAINER, "year=2026/month=11/day=28/x.json", day)
    leaves = [Leaf(SEALS_CONTAINER, cert, 5, "a" * 64),
              Leaf(RECORDS_CONTAINER, "year=2026/month=11/day=28/r.json", 3, "b" * 64)]
    seal = new_seal(None, day, "primary", leaves, key_id="k", sealed_at=NOW.isoformat())
    stored = parse_seal_document(seal.document(b"\x01" * 64))
    assert check_seal(seal.blob_name, stored, lambda _d, _s: True) == []
    elsewhere = new_seal(None, day + timedelta(days=1), "primary", leaves, key_id="k",
                         sealed_at=NOW.isoformat())
    kinds = {f.kind for f in check_seal(elsewhere.blob_name, parse_seal_document(
        elsewhere.document(b"\x01" * 64)), lambda _d, _s: True)}
    assert kinds == {"leaf_outside_day"}
    # A seal without certificates counts exactly as before they existed.
    assert SEALS_CONTAINER not in counts_of(leaves[1:])
    assert counts_of(leaves)[SEALS_CONTAINER] == 1


def test_the_app_registers_the_retention_timer_on_its_setting() -> None:
    import function_app
    from devhost.discovery import describe

    functions = {spec.name: spec for spec in describe(function_app.app)}
    assert functions["retention"].trigger["schedule"] == "%RETENTION_SCHEDULE%"
