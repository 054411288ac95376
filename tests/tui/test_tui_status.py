"""The dashboard's health lines: one per level present, worst first, coloured by level."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive.health import Observations, SealSeen, evaluate
from tui.screens.dashboard import health_markup

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def observed(poison: int, gaps: int) -> Observations:
    return Observations(
        queue_depths={"ingest": 0, "ingest-poison": poison}, ingest_oldest=None,
        deadletter_open=0, failures={"media_unavailable": gaps}, failures_capped=False,
        last_seal=SealSeen("2026-12-03", AT, 3), sealed_days=frozenset({"2026-12-03"}),
        last_verification=None, newest_record_written=None, holds_in_force=0,
    )


def test_one_line_per_level_worst_first() -> None:
    lines = health_markup(evaluate(observed(poison=2, gaps=1), AT)).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("[b red]CRIT[/]") and "ingest_poison: 2 message(s)" in lines[0]
    assert lines[1].startswith("[b yellow]WARN[/]") and "failures: 1 open" in lines[1]
    assert lines[2].startswith("[green]OK  [/]") and "7 of 9: ingest_depth" in lines[2]


def test_all_ok_is_one_green_line() -> None:
    lines = health_markup(evaluate(observed(poison=0, gaps=0), AT)).splitlines()
    assert lines == ["[green]OK  [/] [green]9 of 9: ingest_depth ingest_age ingest_poison "
                     "deadletter failures seal verification lag holds[/]"]
