"""Records written by an earlier parser stay provable: checks accept a match with any era."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive.layout import record_blob_name
from archive.parsing import parse_body, parse_eras
from archive.reconcile import expected_records
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

RECEIVED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def test_a_calls_body_has_a_legacy_era_of_one_system_event() -> None:
    body = fixture_bytes("calls_terminate")
    current, legacy = parse_eras("meta", body, RECEIVED)
    assert {e.event for e in current.events} == {"call"}
    assert [(e.event, e.type) for e in legacy.events] == [("system", "field:calls")]


def test_a_body_without_calls_has_one_era() -> None:
    assert len(parse_eras("meta", fixture_bytes("text"), RECEIVED)) == 1


def test_reconcile_judges_an_old_day_by_the_records_it_holds() -> None:
    body = fixture_bytes("calls_terminate")
    legacy = parse_body("meta", body, RECEIVED, legacy_calls=True)
    stored = {record_blob_name(e) for e in legacy.events}
    expected, _ = expected_records("raw/x.json", "meta", body, RECEIVED, stored.__contains__)
    assert {item.record_path for item in expected} == stored


def test_reconcile_expects_todays_records_when_neither_era_is_complete() -> None:
    body = fixture_bytes("calls_terminate")
    expected, _ = expected_records("raw/x.json", "meta", body, RECEIVED, lambda _: False)
    current = parse_body("meta", body, RECEIVED)
    assert {i.record_path for i in expected} == {record_blob_name(e) for e in current.events}
