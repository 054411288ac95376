"""Collect the pipeline's metrics in tests.

In-process (unit and Azurite tests): the `metrics` fixture installs an
InMemoryMetricReader-backed provider for the test and resets it afterwards.

    from tests.support.metrics import Collected, metrics  # noqa: F401  (the fixture)

    def test_x(metrics: Collected) -> None:
        ...  # drive the code
        assert metrics.total("wa_archive.seals", outcome="sealed") == 1
        assert_no_private_dimensions(metrics.all_dimensions(), sent_texts, sent_numbers)

Through devhost (e2e: the app runs in a subprocess), read the local file exporter:
start DevHostProcess with
`extra_env=local_metrics_env(tmp_path / "metrics")` (WA_METRICS_DIR plus a 500 ms
export interval) and poll `local_total(folder, name, **dims)` until it reaches the
expected count; `local_dimensions(folder)` gives every dimension written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)

import telemetry
from admin import metrics_local
from telemetry.provider import ENV_CONNECTION, ENV_DIR, ENV_INTERVAL


@dataclass(frozen=True)
class Point:
    name: str
    unit: str
    dims: dict[str, str]
    value: float  # a counter's sum, a gauge's value, a histogram's count
    sum: float | None = None  # histograms only


class Collected:
    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.reader = reader
        self._last: list[Point] = []

    def points(self, name: str | None = None) -> list[Point]:
        """Every point now (cumulative since the fixture started), optionally of one metric."""
        data = self.reader.get_metrics_data()
        found: list[Point] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for p in metric.data.data_points:
                        dims = {str(k): str(v) for k, v in (p.attributes or {}).items()}
                        unit = metric.unit or ""
                        if isinstance(p, HistogramDataPoint):
                            found.append(Point(metric.name, unit, dims, p.count, p.sum))
                        elif isinstance(p, NumberDataPoint):
                            found.append(Point(metric.name, unit, dims, p.value))
        self._last = found or self._last
        return [p for p in found if name is None or p.name == name]

    def total(self, name: str, **dims: str) -> float:
        """Sum of values (histograms: sample counts) of `name` whose dimensions include `dims`."""
        return sum(p.value for p in self.points(name)
                   if all(p.dims.get(k) == v for k, v in dims.items()))

    def unit(self, name: str) -> str:
        units = {p.unit for p in self.points(name)}
        assert len(units) == 1, units
        return units.pop()

    def all_dimensions(self) -> list[dict[str, str]]:
        return [p.dims for p in self.points()]


@pytest.fixture
def metrics() -> Iterator[Collected]:
    reader = InMemoryMetricReader()
    telemetry.install(reader)
    try:
        yield Collected(reader)
    finally:
        telemetry.reset()


def assert_no_private_dimensions(dims: Iterable[dict[str, str]], *secrets: str) -> None:
    """No dimension value holds any of `secrets` (texts, numbers, ids, paths), nor a
    run of 7+ digits (a phone number), nor a slash (a path)."""
    for found in dims:
        for key, value in found.items():
            assert "/" not in value, (key, value)
            assert not any(ch.isdigit() for ch in value[:1]), (key, value)
            digits = sum(ch.isdigit() for ch in value)
            assert digits < 7, (key, value)
            for secret in secrets:
                if secret:
                    assert secret not in value, (key, value)


def local_metrics_env(folder: Path, interval_ms: int = 500) -> dict[str, str]:
    """Environment for a devhost subprocess: the local exporter into `folder`, fast."""
    return {ENV_DIR: str(folder), ENV_INTERVAL: str(interval_ms), ENV_CONNECTION: ""}


def local_total(folder: Path, name: str, **dims: str) -> float:
    procs = metrics_local.load(folder, time.time())
    return metrics_local.total(procs, name, dims or None)


def local_dimensions(folder: Path) -> list[dict[str, str]]:
    """Every distinct dimension set in every snapshot under `folder`."""
    found: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for snaps in metrics_local.load(folder, 0.0).values():
        for snap in snaps:
            for entry in snap["metrics"].values():
                for point in entry.get("points", []):
                    dims = {str(k): str(v) for k, v in (point.get("dims") or {}).items()}
                    found.setdefault(tuple(sorted(dims.items())), dims)
    return list(found.values())


def wait_for_local(folder: Path, name: str, expected: float, timeout: float = 30.0,
                   **dims: Any) -> float:
    """Poll the local snapshots until `name` reaches `expected`; the last value seen."""
    deadline = time.monotonic() + timeout
    value = local_total(folder, name, **dims)
    while value < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        value = local_total(folder, name, **dims)
    return value
