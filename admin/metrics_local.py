"""Local metrics, read back from the JSON-lines snapshots telemetry.jsonl writes.

No Azure needed: `wa-archive dev` sets WA_METRICS_DIR to <data dir>/metrics, every
process of the local stack appends its cumulative snapshots there, and this module
turns them into

- `status_line(folder)`: the one line `wa-archive dev` prints every minute,
  "events archived N (last min +n), lag p50 Xs p95 Ys, media gaps G, poison P";
- `series(folder, metric, minutes=60)`: one value per step for a TUI sparkline
  (counters: increase per step; histograms: mean per step; gauges: last value).

Each process's counters start at zero, so totals add up the latest snapshot of every
process, and a window's increase is, per process, its value at the end minus its value
at the start (zero before its first snapshot).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.metrics import (
    BY_NAME,
    EVENTS_ARCHIVED,
    LAG_RECEIPT,
    MEDIA_GAPS,
    POISON,
)
from telemetry.jsonl import SUFFIX

METRICS_SUBDIR = "metrics"
STATUS_EVERY_S = 60.0
_T = re.compile(rb'\A\{"t":([0-9.]+)')
_TAIL_CHUNK = 64 * 1024
Snapshot = dict[str, Any]  # {"t", "proc", "metrics"}


def metrics_dir(data_dir: Path) -> Path:
    """Where `wa-archive dev` keeps the local metrics (WA_METRICS_DIR)."""
    return data_dir / METRICS_SUBDIR


def _parse(line: bytes) -> Snapshot | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None  # a line being appended right now, or a torn write
    ok = isinstance(value, dict) and isinstance(value.get("metrics"), dict)
    return value if ok and isinstance(value.get("t"), int | float) else None


def _last_snapshot(path: Path) -> Snapshot | None:
    """The file's last complete line, read from the end."""
    try:
        with path.open("rb") as handle:
            end = handle.seek(0, 2)
            data = b""
            position = end
            while position > 0:
                step = min(_TAIL_CHUNK, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
                lines = [line for line in data.split(b"\n") if line.strip()]
                whole = lines if position == 0 else lines[1:]
                for line in reversed(whole):
                    if (found := _parse(line)) is not None:
                        return found
    except OSError:
        return None
    return None


def _snapshots_since(path: Path, since: float) -> tuple[Snapshot | None, list[Snapshot]]:
    """(the last snapshot before `since`, those at or after it) of one file."""
    before: bytes | None = None
    after: list[Snapshot] = []
    try:
        raw = path.read_bytes()
    except OSError:
        return None, []
    for line in raw.split(b"\n"):
        match = _T.match(line)
        if match is None:
            continue
        if float(match.group(1)) < since:
            before = line
        elif (found := _parse(line)) is not None:
            after.append(found)
    return (_parse(before) if before is not None else None), after


def _by_process(folder: Path) -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = {}
    if folder.is_dir():
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            grouped.setdefault(path.name.split(".", 1)[0], []).append(path)
    return grouped


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def load(folder: Path, since: float) -> dict[str, list[Snapshot]]:
    """Per process: its last snapshot before `since` (if any), then every later one."""
    found: dict[str, list[Snapshot]] = {}
    for proc, paths in _by_process(folder).items():
        recent = [p for p in paths if _mtime(p) >= since]
        baseline: Snapshot | None = None
        later: list[Snapshot] = []
        for path in recent:
            before, after = _snapshots_since(path, since)
            baseline = before or baseline
            later.extend(after)
        if baseline is None:
            older = [p for p in paths if p not in recent]
            if older:
                baseline = _last_snapshot(older[-1])
        found[proc] = ([baseline] if baseline else []) + sorted(later, key=lambda s: s["t"])
    return found


def _matches(dims: Mapping[str, str], wanted: Mapping[str, str] | None) -> bool:
    return not wanted or all(dims.get(k) == v for k, v in wanted.items())


def _points(snap: Snapshot | None, name: str, dims: Mapping[str, str] | None
            ) -> list[dict[str, Any]]:
    if snap is None:
        return []
    entry = snap["metrics"].get(name) or {}
    return [p for p in entry.get("points", []) if _matches(p.get("dims") or {}, dims)]


def _at(snaps: list[Snapshot], t: float) -> Snapshot | None:
    found = None
    for snap in snaps:
        if snap["t"] > t:
            break
        found = snap
    return found


def _value(snap: Snapshot | None, name: str, dims: Mapping[str, str] | None) -> float:
    return float(sum(p.get("value", p.get("count", 0)) or 0 for p in _points(snap, name, dims)))


@dataclass
class Histogram:
    bounds: list[float]
    buckets: list[float]
    count: float = 0.0
    total: float = 0.0
    maximum: float = 0.0

    def add(self, point: Mapping[str, Any], sign: float = 1.0) -> None:
        buckets = list(point.get("buckets") or [])
        if not self.bounds:
            self.bounds = list(point.get("bounds") or [])
            self.buckets = [0.0] * (len(self.bounds) + 1)
        if len(buckets) != len(self.buckets):
            return
        self.buckets = [a + sign * b for a, b in zip(self.buckets, buckets, strict=True)]
        self.count += sign * float(point.get("count") or 0)
        self.total += sign * float(point.get("sum") or 0)
        self.maximum = max(self.maximum, float(point.get("max") or 0))

    def quantile(self, q: float) -> float | None:
        """Linear interpolation inside the bucket holding the q-th sample."""
        if self.count <= 0:
            return None
        rank = q * self.count
        seen = 0.0
        for index, in_bucket in enumerate(self.buckets):
            if in_bucket > 0 and seen + in_bucket >= rank:
                low = self.bounds[index - 1] if index > 0 else 0.0
                high = self.bounds[index] if index < len(self.bounds) else max(
                    self.maximum, low)
                return low + (high - low) * max(rank - seen, 0.0) / in_bucket
            seen += in_bucket
        return self.maximum


def _histogram(snap: Snapshot | None, name: str, dims: Mapping[str, str] | None,
               into: Histogram, sign: float = 1.0) -> None:
    for point in _points(snap, name, dims):
        into.add(point, sign)


def window_histogram(procs: Mapping[str, list[Snapshot]], name: str, start: float,
                     end: float, dims: Mapping[str, str] | None = None) -> Histogram:
    """Samples observed between `start` and `end`, over every process."""
    result = Histogram([], [])
    for snaps in procs.values():
        _histogram(_at(snaps, end), name, dims, result)
        _histogram(_at(snaps, start), name, dims, result, -1.0)
    return result


def increase(procs: Mapping[str, list[Snapshot]], name: str, start: float, end: float,
             dims: Mapping[str, str] | None = None) -> float:
    return sum(max(_value(_at(s, end), name, dims) - _value(_at(s, start), name, dims), 0.0)
               for s in procs.values())


def total(procs: Mapping[str, list[Snapshot]], name: str,
          dims: Mapping[str, str] | None = None) -> float:
    return sum(_value(s[-1] if s else None, name, dims) for s in procs.values())


@dataclass(frozen=True)
class LocalStatus:
    archived: int
    archived_last_min: int
    lag_p50_s: float | None
    lag_p95_s: float | None
    media_gaps: int
    poison: int

    def line(self) -> str:
        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}s"

        return (f"events archived {self.archived} (last min +{self.archived_last_min}), "
                f"lag p50 {seconds(self.lag_p50_s)} p95 {seconds(self.lag_p95_s)}, "
                f"media gaps {self.media_gaps}, poison {self.poison}")


def status(folder: Path, now: float | None = None, window_s: float = 60.0) -> LocalStatus:
    """Totals since the metrics folder began; archived and lag over the last `window_s`."""
    end = time.time() if now is None else now
    start = end - window_s
    procs = load(folder, start)
    lag = window_histogram(procs, LAG_RECEIPT.name, start, end)
    return LocalStatus(
        archived=int(total(procs, EVENTS_ARCHIVED.name)),
        archived_last_min=int(increase(procs, EVENTS_ARCHIVED.name, start, end)),
        lag_p50_s=lag.quantile(0.5), lag_p95_s=lag.quantile(0.95),
        media_gaps=int(total(procs, MEDIA_GAPS.name)),
        poison=int(total(procs, POISON.name)),
    )


def status_line(folder: Path, now: float | None = None) -> str:
    return status(folder, now).line()


def series(folder: Path, metric: str, minutes: int = 60, *, step_s: float = 60.0,
           dims: Mapping[str, str] | None = None, now: float | None = None) -> list[float]:
    """`minutes * 60 / step_s` values, oldest first, for a sparkline.

    Counters: the increase in each step. Histograms: the mean sample of each step (0
    without samples). Gauges: the last value in each step, summed over the processes
    that reported one within the step (a stopped process stops counting).
    """
    known = BY_NAME.get(metric)
    if known is None:
        raise KeyError(f"unknown metric {metric!r}")
    end = time.time() if now is None else now
    steps = max(int(minutes * 60 / step_s), 1)
    start = end - steps * step_s
    procs = load(folder, start)
    values: list[float] = []
    for k in range(steps):
        a, b = start + k * step_s, start + (k + 1) * step_s
        if known.kind == "counter":
            values.append(increase(procs, metric, a, b, dims))
        elif known.kind == "histogram":
            h = window_histogram(procs, metric, a, b, dims)
            values.append(h.total / h.count if h.count > 0 else 0.0)
        else:
            values.append(sum(_value(snap, metric, dims) for s in procs.values()
                              if (snap := _at(s, b)) is not None and snap["t"] > a))
    return values


def start_status_printer(folder: Path, emit: Callable[[str], None],
                         every_s: float = STATUS_EVERY_S) -> Callable[[], None]:
    """Call `emit(status line)` every `every_s` seconds on a daemon thread; returns stop()."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                emit(status_line(folder))
            except Exception as exc:  # a status line must never stop the dev stack
                emit(f"metrics: status unavailable ({type(exc).__name__})")

    thread = threading.Thread(target=loop, name="wa-archive-metrics-status", daemon=True)
    thread.start()
    return stop.set


def metric_names(folder: Path, since: float) -> list[str]:
    """Metrics present in the snapshots since `since` (for a TUI picker)."""
    names: set[str] = set()
    for snaps in load(folder, since).values():
        for snap in snaps:
            names.update(snap["metrics"])
    return sorted(names)
