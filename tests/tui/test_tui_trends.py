"""Dashboard trends: sparklines drawn from the local metric snapshots `wa-archive dev` writes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from archive import metrics as m
from tui.screens.dashboard import TREND_MINUTES, sparkline, trends_markup

pytestmark = pytest.mark.unit


def test_sparkline_scales_to_the_largest_value():
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([0, 4, 8]) == "▁▅█"
    assert sparkline([]) == ""


def test_trends_read_the_archived_counter_from_local_snapshots(tmp_path: Path):
    now = time.time()

    def snap(t: float, archived: float) -> str:
        point = {"dims": {"provider": "meta", "event": "message", "type": "text"},
                 "value": archived}
        metrics = {m.EVENTS_ARCHIVED.name: {"kind": "counter", "unit": "{event}",
                                            "points": [point]}}
        record = {"t": t, "proc": "p1", "metrics": metrics}
        return json.dumps(record, separators=(",", ":")) + "\n"  # as the exporter writes

    path = tmp_path / "0-1.0.jsonl"
    path.write_text(snap(now - 150, 0) + snap(now - 90, 4) + snap(now - 30, 10))
    line = trends_markup(tmp_path)
    assert line.startswith(f"last {TREND_MINUTES} min")
    archived = line.split("archived/min ", 1)[1].split(" ", 1)[0]
    assert len(archived) == TREND_MINUTES
    assert archived[-1] == "█" and set(archived[:-3]) == {"▁"}  # growth only at the end
    assert "[b]6[/]" in line  # the last minute's increase (10 - 4)


def test_without_a_metrics_folder_the_line_says_where_they_come_from():
    assert "wa-archive dev" in trends_markup(None)
