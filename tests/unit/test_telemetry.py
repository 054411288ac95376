"""The telemetry adapter: each emit function's metric, unit and dimensions; unsafe values
dropped without logging them; failures swallowed; configuration from the environment."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
)

import telemetry
from archive import metrics as m
from telemetry import provider
from telemetry.jsonl import JsonLinesExporter
from tests.support.metrics import Collected, assert_no_private_dimensions, metrics

pytestmark = pytest.mark.unit
__all__ = ["metrics"]  # the fixture, imported for pytest

NOW = 1_764_158_400.0  # 2025-11-26T12:00:00Z


@pytest.mark.parametrize(
    ("emit", "metric", "dims", "value"),
    [
        (lambda: telemetry.webhook("meta", "accepted", "ok", 12.0), m.WEBHOOKS,
         {"provider": "meta", "outcome": "accepted", "reason": "ok"}, 1),
        (lambda: telemetry.webhook("twilio", "refused", "signature", 3.0), m.INGEST_LATENCY,
         {"provider": "twilio", "outcome": "refused"}, 1),
        (lambda: telemetry.media_stored("wasender", 2048), m.MEDIA_BYTES,
         {"provider": "wasender"}, 2048),
        (lambda: telemetry.media_gap("acs", "not_found"), m.MEDIA_GAPS,
         {"provider": "acs", "reason": "not_found"}, 1),
        (lambda: telemetry.poison("deadletter", 3), m.POISON, {"kind": "deadletter"}, 3),
        (lambda: telemetry.queue_depth("ingest-poison", 7, 90.0), m.QUEUE_DEPTH,
         {"queue": "ingest-poison"}, 7),
        (lambda: telemetry.queue_depth("ingest", 7, 90.5), m.QUEUE_OLDEST_AGE,
         {"queue": "ingest"}, 90.5),
        (lambda: telemetry.replayed("media_unavailable"), m.REPLAYS,
         {"kind": "media_unavailable"}, 1),
        (lambda: telemetry.seal("sealed"), m.SEALS, {"outcome": "sealed"}, 1),
        (lambda: telemetry.verification("failed"), m.VERIFICATIONS, {"outcome": "failed"}, 1),
        (lambda: telemetry.disposed("records", 5), m.DISPOSALS, {"container": "records"}, 5),
        (lambda: telemetry.holds("released", 4), m.HOLDS, {"outcome": "released"}, 4),
        (lambda: telemetry.unresolved_setting("WHATSAPP_APP_SECRET"), m.SETTINGS_UNRESOLVED,
         {"setting": "WHATSAPP_APP_SECRET"}, 1),
    ],
    ids=lambda v: v.name if isinstance(v, m.Metric) else None,
)
def test_each_function_emits_its_metric(metrics: Collected, emit: Any, metric: m.Metric,
                                        dims: dict[str, str], value: float) -> None:
    emit()
    points = metrics.points(metric.name)
    assert [(p.dims, p.value) for p in points] == [(dims, value)]
    assert metrics.unit(metric.name) == metric.unit
    assert set(points[0].dims) <= set(metric.dimensions)


def record(**over: Any) -> dict[str, Any]:
    base = {"provider": "meta", "event": "message", "type": "image",
            "from": "+15551230000", "to": "15559870000", "content": {"text": "secret words"},
            "message_id": "wamid.HBgLMTU1NTEyMzAwMDA=", "timestamp": "2025-11-26T11:59:00Z",
            "received_at": "2025-11-26T11:59:58.500000Z",
            "raw": {"path": "year=2025/month=11/day=26/meta/x.json"}}
    return {**base, **over}


def test_archived_counts_by_provider_event_type_and_observes_both_lags(
        metrics: Collected) -> None:
    telemetry.archived(record(), now=NOW)
    telemetry.archived(record(type="text"), now=NOW)
    assert metrics.total(m.EVENTS_ARCHIVED.name, provider="meta", event="message",
                         type="image") == 1
    assert metrics.total(m.EVENTS_ARCHIVED.name) == 2
    provider_lag = metrics.points(m.LAG_PROVIDER.name)
    receipt_lag = metrics.points(m.LAG_RECEIPT.name)
    assert [(p.dims, p.value, p.sum) for p in provider_lag] == [({"provider": "meta"}, 2, 120.0)]
    assert [(p.dims, p.value, p.sum) for p in receipt_lag] == [({"provider": "meta"}, 2, 3.0)]
    assert metrics.unit(m.LAG_RECEIPT.name) == "s"
    assert_no_private_dimensions(metrics.all_dimensions(), "+15551230000", "15559870000",
                                 "secret words", "wamid.", "year=")


def test_archived_tolerates_odd_records(metrics: Collected) -> None:
    telemetry.archived(record(type="Some Type!", provider="elsewhere", timestamp="garbage",
                              received_at=None), now=NOW)
    telemetry.archived(record(timestamp="2025-11-26T12:00:05Z"), now=NOW)  # clock skew
    assert metrics.total(m.EVENTS_ARCHIVED.name, provider="unknown", type="other") == 1
    assert [p.sum for p in metrics.points(m.LAG_PROVIDER.name)] == [0.0]
    assert telemetry.health()["errors"] == 0


@pytest.mark.parametrize(
    ("emit", "value"),
    [
        (lambda: telemetry.media_stored("+15551234567", 1), "+15551234567"),
        (lambda: telemetry.webhook("meta", "refused", "hello, call me", 1.0), "hello, call me"),
        (lambda: telemetry.poison("year=2025/month=11/x.json"), "year=2025/month=11/x.json"),
        (lambda: telemetry.seal("wamid.HBgLMTU1NTE"), "wamid.HBgLMTU1NTE"),
        (lambda: telemetry.unresolved_setting("@Microsoft.KeyVault(x)"), "@Microsoft.KeyVault"),
    ],
)
def test_an_unsafe_value_drops_the_sample_and_is_never_logged(
        metrics: Collected, caplog: pytest.LogCaptureFixture, emit: Any, value: str) -> None:
    before = telemetry.health()["dropped"]
    with caplog.at_level(logging.WARNING, logger="wa_archive.telemetry"):
        emit()  # does not raise
    assert telemetry.health()["dropped"] > before
    assert all(value not in str(p.dims) for p in metrics.points())
    assert caplog.records and all(value not in r.getMessage() for r in caplog.records)
    assert "dropped" in caplog.text


def test_a_failing_instrument_is_swallowed_and_counted(
        metrics: Collected, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("exporter on fire")

    monkeypatch.setattr(provider.Instruments, "record", boom)
    before = telemetry.health()["errors"]
    telemetry.seal("sealed")
    telemetry.archived(record(), now=NOW)
    assert telemetry.health()["errors"] >= before + 2


def test_bad_arguments_are_swallowed(metrics: Collected) -> None:
    before = telemetry.health()["errors"]
    telemetry.media_stored("meta", "many")  # type: ignore[arg-type]
    telemetry.archived(None)  # type: ignore[arg-type]
    assert telemetry.health()["errors"] == before + 2


class _Failing(MetricExporter):
    calls = 0

    def export(self, metrics_data: Any, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        type(self).calls += 1
        raise OSError("collector unreachable")

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def test_an_exporter_failure_never_reaches_the_emitter() -> None:
    telemetry.install(PeriodicExportingMetricReader(_Failing(), export_interval_millis=1e9))
    try:
        telemetry.seal("sealed")
        telemetry.flush()  # the SDK logs the exporter's exception; nothing raises
        telemetry.seal("sealed")
        assert _Failing.calls >= 1
    finally:
        telemetry.reset()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (provider.ENV_CONNECTION, provider.ENV_AUTHENTICATION, provider.ENV_DIR,
                 provider.ENV_INTERVAL):
        monkeypatch.delenv(name, raising=False)
    telemetry.reset()
    yield monkeypatch
    telemetry.reset()


def test_without_an_exporter_every_emit_is_a_no_op(clean_env: pytest.MonkeyPatch) -> None:
    telemetry.seal("sealed")
    assert provider.instruments() is None
    assert telemetry.flush() is False
    assert not telemetry.enabled()  # the pipeline_gauges timer then reads nothing


def test_the_local_exporter_is_configured_once_from_the_environment(
        clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv(provider.ENV_DIR, str(tmp_path / "metrics"))
    clean_env.setenv(provider.ENV_INTERVAL, "100000")
    first = provider.instruments()
    assert first is not None and provider.instruments() is first
    telemetry.seal("sealed")
    telemetry.webhook("meta", "accepted", "ok", 4.0)
    assert telemetry.flush()
    files = list((tmp_path / "metrics").glob("*.jsonl"))
    assert len(files) == 1 and oct(files[0].stat().st_mode & 0o777) == "0o600"
    line = json.loads(files[0].read_text().splitlines()[-1])
    assert list(line) == ["t", "proc", "metrics"]
    assert line["metrics"][m.SEALS.name] == {
        "kind": "counter", "unit": "{seal}",
        "points": [{"dims": {"outcome": "sealed"}, "value": 1}]}
    duration = line["metrics"][m.INGEST_LATENCY.name]["points"][0]
    assert duration["count"] == 1 and duration["bounds"][:3] == [1.0, 2.0, 5.0]


def test_interval_setting() -> None:
    assert provider.interval_ms(60_000, {}) == 60_000
    assert provider.interval_ms(60_000, {provider.ENV_INTERVAL: "500"}) == 500
    assert provider.interval_ms(60_000, {provider.ENV_INTERVAL: "soon"}) == 60_000


def test_azure_monitor_exporter_with_the_deployed_aad_authentication() -> None:
    from azure.identity import ManagedIdentityCredential
    from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter

    assert provider._aad_client_id("ClientId=abc;Authorization=AAD") == "abc"
    assert provider._aad_client_id("") is None
    env = {provider.ENV_CONNECTION: "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                                    "IngestionEndpoint=https://127.0.0.1:9/",
           provider.ENV_AUTHENTICATION: "ClientId=abc;Authorization=AAD"}
    reader = provider.reader_from_environment(env)
    assert isinstance(reader, PeriodicExportingMetricReader)
    exporter = reader._exporter
    assert isinstance(exporter, AzureMonitorMetricExporter)
    assert isinstance(exporter._credential, ManagedIdentityCredential)
    assert reader._export_interval_millis == provider.AZURE_INTERVAL_MS
    reader.shutdown()


def test_the_file_exporter_rolls_over(tmp_path: Path) -> None:
    exporter = JsonLinesExporter(tmp_path, proc="20251126T120000-1", roll_bytes=1)
    telemetry.install(PeriodicExportingMetricReader(exporter, export_interval_millis=1e9))
    try:
        telemetry.seal("sealed")
        telemetry.flush()
        telemetry.flush()
    finally:
        telemetry.reset()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:2] == ["20251126T120000-1.0000.jsonl", "20251126T120000-1.0001.jsonl"]


def test_in_memory_reader_still_works_after_a_reset(metrics: Collected) -> None:
    telemetry.seal("unchanged")
    assert metrics.total(m.SEALS.name, outcome="unchanged") == 1
    assert isinstance(metrics.reader, InMemoryMetricReader)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("media exceeds the 104857600 byte cap", "too_large"),
        ("sha256 mismatch between provider and downloaded bytes", "hash_mismatch"),
        ("media host example.com is not in MEDIA_HOST_ALLOWLIST", "host_refused"),
        ("Graph API answered 404 for media 1234567890", "not_found"),
        ("deadline of 120 s passed", "timeout"),
        ("ConnectionError", "fetch_failed"),
        ("call +15551234567 about order 42", "fetch_failed"),
        (None, "fetch_failed"),
        ("not_fetched", "not_fetched"),
    ],
)
def test_media_gap_reasons_become_fixed_codes(metrics: Collected, text: str | None,
                                             code: str) -> None:
    assert telemetry.gap_reason(text) == code
    telemetry.media_gap("meta", text)
    assert [p.dims for p in metrics.points(m.MEDIA_GAPS.name)] == [
        {"provider": "meta", "reason": code}]


@pytest.mark.parametrize(
    ("status", "outcome", "reason"),
    [(200, "accepted", "ok"), (401, "refused", "signature"), (413, "refused", "too_large"),
     (503, "refused", "storage"), (500, "refused", "misconfigured"),
     (418, "refused", "http_418"), (204, "accepted", "ok")],
)
def test_webhook_answered_maps_the_status(metrics: Collected, status: int, outcome: str,
                                          reason: str) -> None:
    import time

    telemetry.webhook_answered("twilio", status, time.perf_counter() - 0.05)
    assert [p.dims for p in metrics.points(m.WEBHOOKS.name)] == [
        {"provider": "twilio", "outcome": outcome, "reason": reason}]
    (latency,) = metrics.points(m.INGEST_LATENCY.name)
    assert latency.dims == {"provider": "twilio", "outcome": outcome}
    assert latency.sum is not None and 50 <= latency.sum < 5000
