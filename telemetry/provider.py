"""One OpenTelemetry MeterProvider per process, configured once from the environment.

- In Azure (`APPLICATIONINSIGHTS_CONNECTION_STRING` set): azure-monitor-opentelemetry-
  exporter's AzureMonitorMetricExporter behind a PeriodicExportingMetricReader. With
  `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` = `ClientId=<id>;Authorization=AAD` (what
  bicep/modules/function-app.bicep deploys) it authenticates as that managed identity.
- Locally (`WA_METRICS_DIR` set, by `wa-archive dev` or a test): the JSON-lines file
  exporter of telemetry.jsonl, one file per process under that folder.
- Neither: no provider; every emit returns at once (the CLI, most tests).

`WA_METRICS_INTERVAL_MS` sets the export interval (default 60 s in Azure, 15 s locally).
`WA_METRICS_DIR` and `WA_METRICS_INTERVAL_MS` are local-only environment variables, not
app settings: Bicep never deploys them (docs/observability.md).

The provider is private to this package (never the OpenTelemetry global), so nothing
else in the process can replace or reconfigure it. Tests install their own reader
(`install`) and `reset()` afterwards.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

from archive.metrics import CATALOGUE, INGEST_LATENCY, LAG_PROVIDER, LAG_RECEIPT, Metric

log = logging.getLogger("wa_archive.telemetry")

ENV_CONNECTION = "APPLICATIONINSIGHTS_CONNECTION_STRING"
ENV_AUTHENTICATION = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
ENV_DIR = "WA_METRICS_DIR"
ENV_INTERVAL = "WA_METRICS_INTERVAL_MS"
AZURE_INTERVAL_MS = 60_000
LOCAL_INTERVAL_MS = 15_000
METER_NAME = "wa_archive"

# Seconds: a healthy pipeline writes in well under a second; a backlog shows up in hours.
LAG_BOUNDS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200,
              21600, 86400)
# Milliseconds: the front door answers in tens of ms; a storage brown-out takes seconds.
DURATION_BOUNDS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def views() -> list[View]:
    return [
        View(instrument_name=metric.name,
             aggregation=ExplicitBucketHistogramAggregation(boundaries=bounds))
        for metric, bounds in ((LAG_PROVIDER, LAG_BOUNDS), (LAG_RECEIPT, LAG_BOUNDS),
                               (INGEST_LATENCY, DURATION_BOUNDS))
    ]


@dataclass
class Instruments:
    """The catalogue's instruments on one provider, by metric name."""

    provider: MeterProvider
    by_name: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def on(cls, provider: MeterProvider) -> Instruments:
        meter = provider.get_meter(METER_NAME)
        made = cls(provider)
        for metric in CATALOGUE:
            made.by_name[metric.name] = _instrument(meter, metric)
        return made

    def record(self, metric: Metric, value: float, attributes: Mapping[str, str]) -> None:
        instrument = self.by_name[metric.name]
        if metric.kind == "counter":
            instrument.add(value, attributes)
        elif metric.kind == "histogram":
            instrument.record(value, attributes)
        else:
            instrument.set(value, attributes)


def _instrument(meter: Any, metric: Metric) -> Any:
    make = {"counter": meter.create_counter, "histogram": meter.create_histogram,
            "gauge": meter.create_gauge}[metric.kind]
    return make(metric.name, unit=metric.unit, description=metric.description)


def interval_ms(default: int, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    raw = env.get(ENV_INTERVAL, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        log.warning("%s is not a whole number of milliseconds; using %d", ENV_INTERVAL, default)
        return default
    return max(value, 100)


def _aad_client_id(authentication: str) -> str | None:
    """The ClientId of `ClientId=<id>;Authorization=AAD`, or None when it is not AAD."""
    parts = dict(p.split("=", 1) for p in authentication.split(";") if "=" in p)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    return parts.get("ClientId") or ""


def azure_reader(connection: str, environ: Mapping[str, str]) -> MetricReader:
    from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter

    kwargs: dict[str, Any] = {"connection_string": connection}
    client_id = _aad_client_id(environ.get(ENV_AUTHENTICATION, ""))
    if client_id is not None:
        from azure.identity import ManagedIdentityCredential

        kwargs["credential"] = ManagedIdentityCredential(client_id=client_id or None)
    exporter = AzureMonitorMetricExporter(**kwargs)
    return PeriodicExportingMetricReader(
        exporter, export_interval_millis=interval_ms(AZURE_INTERVAL_MS, environ))


def local_reader(folder: Path, environ: Mapping[str, str]) -> MetricReader:
    from telemetry.jsonl import JsonLinesExporter

    return PeriodicExportingMetricReader(
        JsonLinesExporter(folder), export_interval_millis=interval_ms(LOCAL_INTERVAL_MS, environ))


def reader_from_environment(environ: Mapping[str, str] | None = None) -> MetricReader | None:
    env = os.environ if environ is None else environ
    connection = env.get(ENV_CONNECTION, "").strip()
    if connection:
        return azure_reader(connection, env)
    folder = env.get(ENV_DIR, "").strip()
    if folder:
        return local_reader(Path(folder), env)
    return None


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configured = False
        self.instruments: Instruments | None = None


_state = _State()


def instruments() -> Instruments | None:
    """This process's instruments, configured from the environment on first use."""
    if _state.configured:
        return _state.instruments
    with _state.lock:
        if not _state.configured:
            try:
                reader = reader_from_environment()
            except Exception:  # a bad connection string must not stop the pipeline
                log.warning("metrics exporter could not be configured; metrics are off",
                            exc_info=True)
                reader = None
            if reader is not None:
                _state.instruments = Instruments.on(
                    MeterProvider(metric_readers=[reader], views=views()))
            _state.configured = True
    return _state.instruments


def install(reader: MetricReader) -> MeterProvider:
    """Replace this process's provider with one exporting to `reader` (tests, benches)."""
    reset()
    provider = MeterProvider(metric_readers=[reader], views=views(), shutdown_on_exit=False)
    with _state.lock:
        _state.instruments = Instruments.on(provider)
        _state.configured = True
    return provider


def disable() -> None:
    """No exporter for this process, whatever the environment says (benches)."""
    reset()
    with _state.lock:
        _state.configured = True


def reset() -> None:
    """Flush and shut down the current provider; the next emit configures afresh."""
    with _state.lock:
        current, _state.instruments, _state.configured = _state.instruments, None, False
    if current is not None:
        try:
            current.provider.shutdown()
        except Exception:
            log.debug("metrics provider shutdown failed", exc_info=True)


def flush(timeout_millis: float = 10_000) -> bool:
    """Export now (a CLI about to exit, a test); False when there is nothing configured."""
    current = _state.instruments
    if current is None:
        return False
    try:
        return bool(current.provider.force_flush(timeout_millis))
    except Exception:
        log.debug("metrics flush failed", exc_info=True)
        return False
