"""The scope rule shared by legal holds, retention and exports."""

from __future__ import annotations

from datetime import date

import pytest

from archive.scope import Scope, ScopeError, scope_from_args

pytestmark = pytest.mark.unit


def record(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "timestamp": "2026-03-04T23:59:59Z",
        "message_id": "wamid.A",
        "from": "15551230000",
        "to": "15550001111",
        "conversation": {"business_id": "15550001111", "customer_id": "15551230000"},
    }
    base.update(overrides)
    return base


def test_participant_scope_covers_either_side_and_the_firm_number() -> None:
    assert Scope(participant="15551230000").covers(record())
    assert Scope(participant="15550001111").covers(record())
    assert not Scope(participant="15559999999").covers(record())


def test_a_group_member_is_covered_as_sender() -> None:
    member = record(**{"from": "4479000000"})
    assert Scope(participant="4479000000").covers(member)


def test_conversation_scope_needs_both_ids_to_match() -> None:
    scope = Scope(business_id="15550001111", customer_id="15551230000")
    assert scope.covers(record())
    other = record(conversation={"business_id": "15550001111", "customer_id": "1"})
    assert not scope.covers(other)


def test_index_rows_are_judged_like_records() -> None:
    row = {"timestamp": "2026-03-04T10:00:00Z", "message_id": "m", "from": "a", "to": "b",
           "business_id": "b", "customer_id": "a"}
    assert Scope(business_id="b", customer_id="a").covers(row)
    assert not Scope(business_id="a", customer_id="b").covers(row)


def test_message_scope_covers_every_event_of_the_message() -> None:
    scope = Scope(message_id="wamid.A")
    assert scope.covers(record(event="status"))
    assert not scope.covers(record(message_id="wamid.B"))


def test_days_are_inclusive_utc_provider_days() -> None:
    scope = Scope(participant="15551230000", start=date(2026, 3, 4), end=date(2026, 3, 4))
    assert scope.covers(record(timestamp="2026-03-04T00:00:00Z"))
    assert scope.covers(record(timestamp="2026-03-04T23:59:59.999999Z"))
    # 01:00 on the 5th in +02:00 is still the 4th in UTC.
    assert scope.covers(record(timestamp="2026-03-05T01:00:00+02:00"))
    assert not scope.covers(record(timestamp="2026-03-05T00:00:00Z"))
    assert not scope.covers(record(timestamp="2026-03-03T23:59:59Z"))


def test_a_record_without_a_readable_time_is_not_covered() -> None:
    assert not Scope(participant="15551230000").covers(record(timestamp="yesterday"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one"),
        ({"participant": "a", "message_id": "m"}, "exactly one"),
        ({"business_id": "b"}, "both the business and the customer"),
        ({"participant": " "}, "non-empty"),
        ({"participant": "a", "start": date(2026, 2, 1), "end": date(2026, 1, 1)}, "after"),
    ],
)
def test_bad_scopes_are_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScopeError, match=message):
        Scope(**kwargs)  # type: ignore[arg-type]


def test_round_trip_through_flat_strings() -> None:
    scope = Scope(business_id="b", customer_id="c", start=date(2026, 1, 2))
    flat = scope.to_dict()
    assert flat == {"business_id": "b", "customer_id": "c", "start": "2026-01-02"}
    assert Scope.from_dict(flat) == scope


def test_command_line_days_are_checked() -> None:
    assert scope_from_args(participant="p", start="2026-01-01").start == date(2026, 1, 1)
    with pytest.raises(ScopeError, match="--from must be a day"):
        scope_from_args(participant="p", start="01/02/2026")


def test_describe_names_the_selector_and_range() -> None:
    text = Scope(message_id="wamid.X", end=date(2026, 5, 31)).describe()
    assert text == "message wamid.X, the beginning to 2026-05-31"
