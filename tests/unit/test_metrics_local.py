"""Local metrics read back from real snapshot files: the `wa-archive dev` status line and
the TUI's per-metric series, across processes, restarts, roll-overs and torn lines."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

import telemetry
from admin import metrics_local as ml
from archive import metrics as m
from telemetry.jsonl import JsonLinesExporter

pytestmark = pytest.mark.unit

NOW = 1_764_158_400.0
LAG_BOUNDS = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0]


def counter(value: float, **dims: str) -> dict[str, Any]:
    return {"dims": dims, "value": value}


def histogram(buckets: list[int], total: float) -> dict[str, Any]:
    return {"dims": {"provider": "meta"}, "count": sum(buckets), "sum": total, "min": 0.0,
            "max": 9.0, "bounds": LAG_BOUNDS, "buckets": buckets}


def snap(t: float, proc: str, archived: float, *, lag: list[int] | None = None,
         gaps: float = 0, poison: float = 0, depth: float | None = None) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        m.EVENTS_ARCHIVED.name: {"kind": "counter", "unit": "{event}", "points": [
            counter(archived * 0.75, provider="meta", event="message", type="text"),
            counter(archived * 0.25, provider="meta", event="status", type="text")]},
        m.MEDIA_GAPS.name: {"kind": "counter", "unit": "{item}",
                            "points": [counter(gaps, provider="meta", reason="expired")]},
        m.POISON.name: {"kind": "counter", "unit": "{message}",
                        "points": [counter(poison, kind="deadletter")]},
    }
    if lag is not None:
        metrics[m.LAG_RECEIPT.name] = {"kind": "histogram", "unit": "s",
                                       "points": [histogram(lag, 0.3 * sum(lag))]}
    if depth is not None:
        metrics[m.QUEUE_DEPTH.name] = {"kind": "gauge", "unit": "{message}",
                                       "points": [counter(depth, queue="ingest")]}
    return {"t": t, "proc": proc, "metrics": metrics}


def write(folder: Path, name: str, snaps: list[dict[str, Any]], *, mtime: float,
          tail: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(s, separators=(",", ":")) + "\n" for s in snaps) + tail)
    os.utime(path, (mtime, mtime))
    return path


def test_status_line_adds_processes_and_takes_the_last_minute(tmp_path: Path) -> None:
    # A process that ran and stopped an hour ago: counts in totals, not in the minute.
    write(tmp_path, "20251126T100000-1.0000.jsonl",
          [snap(NOW - 3700, "20251126T100000-1", 40, gaps=2, poison=1)], mtime=NOW - 3600)
    # The live process: 100 archived at NOW-60, 160 now, lag buckets grew by 60 samples.
    write(tmp_path, "20251126T110000-2.0000.jsonl", [
        snap(NOW - 120, "p2", 80, lag=[0, 10, 60, 10, 0, 0, 0]),
        snap(NOW - 60, "p2", 100, lag=[0, 10, 70, 20, 0, 0, 0], gaps=1),
        snap(NOW, "p2", 160, lag=[0, 10, 100, 70, 0, 0, 0], gaps=1, poison=2),
    ], mtime=NOW, tail='{"t":1764158401.0,"proc":"p2","metr')  # a line being written
    status = ml.status(tmp_path, now=NOW)
    assert status.archived == 200 and status.archived_last_min == 60
    assert status.media_gaps == 3 and status.poison == 3
    # 80 new samples: 30 in (0.25, 0.5], 50 in (0.5, 1]; interpolated inside the bucket.
    assert status.lag_p50_s == pytest.approx(0.5 + 0.5 * (40 - 30) / 50)
    assert status.lag_p95_s == pytest.approx(0.5 + 0.5 * (76 - 30) / 50)
    assert ml.status_line(tmp_path, now=NOW) == (
        "events archived 200 (last min +60), lag p50 0.6s p95 1.0s, media gaps 3, poison 3")


def test_status_line_with_no_metrics_yet(tmp_path: Path) -> None:
    assert ml.status_line(tmp_path / "none", now=NOW) == (
        "events archived 0 (last min +0), lag p50 - p95 -, media gaps 0, poison 0")


def test_a_rolled_file_gives_the_baseline(tmp_path: Path) -> None:
    write(tmp_path, "p3.0000.jsonl", [snap(NOW - 300, "p3", 10), snap(NOW - 90, "p3", 50)],
          mtime=NOW - 90)
    write(tmp_path, "p3.0001.jsonl", [snap(NOW - 30, "p3", 70), snap(NOW, "p3", 75)],
          mtime=NOW)
    status = ml.status(tmp_path, now=NOW)
    assert (status.archived, status.archived_last_min) == (75, 25)


def test_series_per_kind(tmp_path: Path) -> None:
    write(tmp_path, "p4.0000.jsonl", [
        snap(NOW - 170, "p4", 0, lag=[0, 0, 0, 0, 0, 0, 0], depth=3),
        snap(NOW - 110, "p4", 10, lag=[0, 0, 10, 0, 0, 0, 0], depth=5),
        snap(NOW - 50, "p4", 30, lag=[0, 0, 10, 10, 0, 0, 0], depth=0),
    ], mtime=NOW - 50)
    assert ml.series(tmp_path, m.EVENTS_ARCHIVED.name, minutes=3, now=NOW) == [0, 10, 20]
    assert ml.series(tmp_path, m.EVENTS_ARCHIVED.name, minutes=3, now=NOW,
                     dims={"event": "status"}) == [0, 2.5, 5]
    assert ml.series(tmp_path, m.LAG_RECEIPT.name, minutes=3, now=NOW) == pytest.approx(
        [0.0, 0.3, 0.3])
    assert ml.series(tmp_path, m.QUEUE_DEPTH.name, minutes=3, now=NOW) == [3, 5, 0]
    # The process stopped reporting: its last gauge value does not linger.
    assert ml.series(tmp_path, m.QUEUE_DEPTH.name, minutes=1, now=NOW + 120) == [0]
    assert ml.metric_names(tmp_path, NOW - 600)[0] == m.EVENTS_ARCHIVED.name
    with pytest.raises(KeyError):
        ml.series(tmp_path, "wa_archive.nope", now=NOW)


def test_the_real_exporter_round_trips(tmp_path: Path) -> None:
    telemetry.install(PeriodicExportingMetricReader(JsonLinesExporter(tmp_path),
                                                    export_interval_millis=1e9))
    try:
        for _ in range(3):
            telemetry.archived({"provider": "meta", "event": "message", "type": "text",
                                "timestamp": "2025-11-26T11:59:59Z",
                                "received_at": "2025-11-26T11:59:59.800000Z"})
        telemetry.media_gap("meta", "expired")
        telemetry.flush()
    finally:
        telemetry.reset()
    status = ml.status(tmp_path)
    assert (status.archived, status.archived_last_min, status.media_gaps) == (3, 3, 1)
    assert status.lag_p50_s is not None


def test_the_status_printer_emits_every_interval(tmp_path: Path) -> None:
    lines: list[str] = []
    seen = threading.Event()

    def emit(line: str) -> None:
        lines.append(line)
        seen.set()

    stop = ml.start_status_printer(tmp_path, emit, every_s=0.05)
    try:
        assert seen.wait(5)
    finally:
        stop()
    time.sleep(0.1)
    assert lines[0].startswith("events archived 0")
    assert ml.metrics_dir(tmp_path) == tmp_path / "metrics"
