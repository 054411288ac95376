"""archive.health: the pure rules behind `wa-archive status` (clock injected as `at`)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from archive.health import (
    CHECKS,
    DEFAULT_SEAL_SCHEDULE,
    Observations,
    SealSeen,
    Thresholds,
    VerificationSeen,
    evaluate,
    first_run_of_day,
    seal_deadline,
)

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
YESTERDAY = "2026-12-03"


def healthy(**changes: object) -> Observations:
    obs = Observations(
        queue_depths={"ingest": 0, "ingest-poison": 0},
        ingest_oldest=None,
        deadletter_open=0,
        failures={"media_unavailable": 0, "conflict": 0},
        failures_capped=False,
        last_seal=SealSeen(YESTERDAY, AT.replace(hour=1, minute=31), 7, "primary"),
        sealed_days=frozenset({"2026-12-01", "2026-12-02", YESTERDAY}),
        last_verification=VerificationSeen("verify-2026-12-04", True,
                                           AT.replace(hour=3, minute=40), 0),
        newest_record_written=AT - timedelta(minutes=2),
        holds_in_force=1,
    )
    return replace(obs, **changes)  # type: ignore[arg-type]


def levels(obs: Observations, at: datetime = AT, th: Thresholds | None = None) -> dict[str, str]:
    return {c.name: c.level for c in evaluate(obs, at, th).checks}


def test_healthy_is_ok_everywhere_and_exit_0() -> None:
    health = evaluate(healthy(), AT)
    assert health.level == "ok" and health.exit_code == 0
    assert tuple(c.name for c in health.checks) == CHECKS
    assert set(levels(healthy()).values()) == {"ok"}
    assert health.summary() == "status OK: 9 checks, 9 ok, 0 warn, 0 crit"


def test_poison_and_deadletter_are_critical() -> None:
    got = levels(healthy(queue_depths={"ingest": 0, "ingest-poison": 1}))
    assert got["ingest_poison"] == "crit"
    got = levels(healthy(deadletter_open=2))
    assert got["deadletter"] == "crit"
    assert evaluate(healthy(deadletter_open=2), AT).exit_code == 2


def test_old_ingest_message_warns_past_the_threshold_only() -> None:
    obs = healthy(queue_depths={"ingest": 3, "ingest-poison": 0},
                  ingest_oldest=AT - timedelta(seconds=601))
    assert levels(obs)["ingest_age"] == "warn"
    assert evaluate(obs, AT).exit_code == 1
    fresh = replace(obs, ingest_oldest=AT - timedelta(seconds=599))
    assert levels(fresh)["ingest_age"] == "ok"
    assert levels(fresh, th=Thresholds(max_queue_age_seconds=1))["ingest_age"] == "warn"


def test_failure_rows_warn_and_are_listed_by_kind() -> None:
    health = evaluate(healthy(failures={"media_unavailable": 2, "conflict": 0}), AT)
    check = {c.name: c for c in health.checks}["failures"]
    assert check.level == "warn" and check.value == 2
    assert check.to_json()["by_kind"] == {"media_unavailable": 2, "conflict": 0}
    assert "media_unavailable 2" in check.summary


def test_missed_seal_is_critical_only_after_schedule_plus_grace() -> None:
    missed = healthy(sealed_days=frozenset({"2026-12-01", "2026-12-02"}),
                     last_seal=SealSeen("2026-12-02", AT - timedelta(days=1), 6, "primary"))
    # Default timer 01:30 + 2 h grace: due 03:30.
    assert levels(missed, at=AT.replace(hour=3, minute=29))["seal"] == "ok"
    assert levels(missed, at=AT.replace(hour=3, minute=30))["seal"] == "crit"
    later = Thresholds(seal_schedule="0 0 6 * * *")
    assert levels(missed, at=AT.replace(hour=7), th=later)["seal"] == "ok"  # due 08:00
    assert levels(missed, at=AT.replace(hour=8), th=later)["seal"] == "crit"
    assert levels(missed, at=AT.replace(hour=6),
                  th=replace(later, seal_grace=timedelta(0)))["seal"] == "crit"


def test_a_new_archive_without_any_seal_warns() -> None:
    obs = healthy(last_seal=None, sealed_days=frozenset(), last_verification=None)
    got = levels(obs)
    assert got["seal"] == "warn"
    assert got["verification"] == "ok"  # nothing to verify yet


def test_a_non_daily_seal_schedule_turns_the_missed_seal_rule_off() -> None:
    missed = healthy(sealed_days=frozenset())
    health = evaluate(missed, AT, Thresholds(seal_schedule="0 0 0 1 1 *"))
    seal = {c.name: c for c in health.checks}["seal"]
    assert seal.level == "ok" and "not daily" in seal.summary


def test_failed_verification_is_critical_and_a_stale_one_warns() -> None:
    failed = VerificationSeen("verify-2026-12-04", False, AT - timedelta(hours=5), 3)
    assert levels(healthy(last_verification=failed))["verification"] == "crit"
    stale = VerificationSeen("verify-2026-12-01", True, AT - timedelta(hours=49), 0)
    assert levels(healthy(last_verification=stale))["verification"] == "warn"
    # Never verified although days were sealed long ago.
    assert levels(healthy(last_verification=None))["verification"] == "warn"


def test_lag_warns_only_while_messages_wait() -> None:
    quiet = healthy(newest_record_written=AT - timedelta(hours=9))
    assert levels(quiet)["lag"] == "ok"  # a quiet night is not lag
    stuck = replace(quiet, queue_depths={"ingest": 5, "ingest-poison": 0},
                    ingest_oldest=AT - timedelta(seconds=30))
    assert levels(stuck)["lag"] == "warn"
    assert levels(replace(stuck, newest_record_written=AT - timedelta(seconds=10)))["lag"] == "ok"
    # Nothing written in two days: the oldest waiting message's age is the lag.
    new = replace(stuck, newest_record_written=None)
    assert levels(new)["lag"] == "ok"
    assert levels(replace(new, ingest_oldest=AT - timedelta(hours=2)))["lag"] == "warn"


def test_worst_level_wins() -> None:
    obs = healthy(failures={"conflict": 1}, deadletter_open=1)
    assert evaluate(obs, AT).level == "crit"
    assert evaluate(obs, AT).counts() == {"ok": 7, "warn": 1, "crit": 1}


def test_json_is_stable_and_holds_no_paths_or_content() -> None:
    doc = evaluate(healthy(), AT).to_json()
    assert doc["schema"] == "wa-archive/status@1"
    assert list(doc["checks"]) == list(CHECKS)
    for check in doc["checks"].values():
        assert {"level", "value", "threshold", "summary", "runbook"} <= set(check)
    assert doc["at"] == "2026-12-04T09:00:00Z"
    text = json.dumps(doc)
    assert "year=" not in text and "wamid" not in text


def test_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate(healthy(), datetime(2026, 12, 4, 9))


@pytest.mark.parametrize(("schedule", "fires"), [
    ("0 30 1 * * *", time(1, 30)),
    ("0 */5 * * * *", time(0, 0)),
    ("15 0,30 2-4 * * *", time(2, 0, 15)),
    ("0 0 0 1 1 *", None),  # yearly
    ("0 30 1 * * 1-5", None),  # weekdays only
    ("30 1 * * *", None),  # five fields: not NCRONTAB
    ("0 61 1 * * *", None),
])
def test_first_run_of_day(schedule: str, fires: time | None) -> None:
    expected = fires.replace(tzinfo=UTC) if fires else None
    assert first_run_of_day(schedule) == expected


def test_deadline_is_today_at_the_timer_plus_grace() -> None:
    assert seal_deadline(AT, Thresholds()) == datetime(2026, 12, 4, 3, 30, tzinfo=UTC)


def test_default_seal_schedule_matches_the_app() -> None:
    from orchestrations.seal_day import DEFAULT_SEAL_SCHEDULE as APP_DEFAULT

    assert DEFAULT_SEAL_SCHEDULE == APP_DEFAULT
