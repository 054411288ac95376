"""The local metrics exporter: cumulative snapshots appended as JSON lines.

Each process writes its own files, `<proc>.<seq>.jsonl` under the metrics folder
(`wa-archive dev`: .wa-archive/metrics/), where `proc` is `<start time>-<pid>`; a file
rolls over at ROLL_BYTES and files untouched for KEEP_DAYS are removed. One line per
export interval:

    {"t": 1764158400.0, "proc": "20251126T120000-4242",
     "metrics": {"wa_archive.events.archived": {"kind": "counter", "unit": "{event}",
                 "points": [{"dims": {"provider": "meta", ...}, "value": 12}]},
                 "wa_archive.lag.receipt": {"kind": "histogram", "unit": "s",
                 "points": [{"dims": {...}, "count": 12, "sum": 3.1, "min": 0.1,
                             "max": 0.6, "bounds": [...], "buckets": [...]}]}}}

Counters and histograms are cumulative since the process started; gauges hold their
last value. admin.metrics_local reads them back (status line, TUI sparklines).
Dimensions are the allow-listed ones (archive.metrics): no content, numbers or paths.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)

from archive.metrics import BY_NAME

log = logging.getLogger("wa_archive.telemetry")

SUFFIX = ".jsonl"
ROLL_BYTES = 4 * 1024 * 1024
KEEP_DAYS = 7


def proc_id(pid: int | None = None, started: float | None = None) -> str:
    at = datetime.fromtimestamp(time.time() if started is None else started, tz=UTC)
    return f"{at.strftime('%Y%m%dT%H%M%S')}-{os.getpid() if pid is None else pid}"


def _point(data: Any, point: Any) -> dict[str, Any]:
    dims = {str(k): str(v) for k, v in (point.attributes or {}).items()}
    if isinstance(data, Histogram):
        return {"dims": dims, "count": point.count, "sum": point.sum, "min": point.min,
                "max": point.max, "bounds": list(point.explicit_bounds),
                "buckets": list(point.bucket_counts)}
    return {"dims": dims, "value": point.value}


def snapshot(metrics_data: MetricsData) -> dict[str, dict[str, Any]]:
    """{metric name: {kind, unit, points}} for the catalogue's metrics in `metrics_data`."""
    found: dict[str, dict[str, Any]] = {}
    for resource in metrics_data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                known = BY_NAME.get(metric.name)
                if known is None or not isinstance(metric.data, Sum | Histogram | Gauge):
                    continue
                entry = found.setdefault(
                    metric.name, {"kind": known.kind, "unit": metric.unit, "points": []})
                entry["points"].extend(_point(metric.data, p) for p in metric.data.data_points)
    return found


class JsonLinesExporter(MetricExporter):
    def __init__(self, folder: Path, *, proc: str | None = None,
                 roll_bytes: int = ROLL_BYTES) -> None:
        super().__init__()
        self.folder = folder
        self.proc = proc or proc_id()
        self.roll_bytes = roll_bytes
        self.seq = 0
        self._prepared = False

    @property
    def path(self) -> Path:
        return self.folder / f"{self.proc}.{self.seq:04d}{SUFFIX}"

    def _prepare(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        cutoff = time.time() - KEEP_DAYS * 86400
        for old in self.folder.glob(f"*{SUFFIX}"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                pass
        self._prepared = True

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        try:
            if not self._prepared:
                self._prepare()
            # `t` first, so a reader can skip a line by its prefix without parsing it.
            line = json.dumps({"t": round(time.time(), 3), "proc": self.proc,
                               "metrics": snapshot(metrics_data)}, separators=(",", ":"))
            path = self.path
            if path.exists() and path.stat().st_size >= self.roll_bytes:
                self.seq += 1
                path = self.path
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except Exception:
            log.warning("local metrics export failed", exc_info=True)
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def files(folder: Path) -> Sequence[Path]:
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
