"""The pipeline's metrics, emitted through OpenTelemetry (issue 15).

Emitters call the functions below; each validates its dimensions against the
archive.metrics allow-list. Telemetry never fails or slows the path that emits: a
value refused by the allow-list drops that sample (a warning names the metric and the
key, never the value), and any other exception is swallowed; both are counted in
`health()`. With no exporter configured (telemetry.provider) every call returns at once.

Floor: just above the pure core (archive); storage, orchestrations, ingest and admin
may import it; it imports none of them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ParamSpec

from archive.metrics import (
    DISPOSALS,
    EVENTS_ARCHIVED,
    HOLDS,
    INGEST_LATENCY,
    LAG_PROVIDER,
    LAG_RECEIPT,
    MEDIA_BYTES,
    MEDIA_GAPS,
    POISON,
    PROVIDERS,
    QUEUE_DEPTH,
    QUEUE_OLDEST_AGE,
    REPLAYS,
    SEALS,
    SETTINGS_UNRESOLVED,
    VERIFICATIONS,
    WEBHOOKS,
    Metric,
    UnsafeDimension,
    dimensions,
)
from telemetry.provider import flush, install, instruments, reset

__all__ = [
    "archived", "disposed", "enabled", "flush", "gap_reason", "health", "holds", "install",
    "media_gap", "media_stored", "poison", "queue_depth", "replayed", "reset", "seal",
    "status_outcome", "unresolved_setting", "verification", "webhook", "webhook_answered",
]

log = logging.getLogger("wa_archive.telemetry")
P = ParamSpec("P")
_TYPE_FALLBACK = "other"


class _Health:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dropped = 0  # samples refused by the dimension allow-list
        self.errors = 0  # exceptions swallowed while emitting

    def count(self, what: str) -> int:
        with self.lock:
            value: int = getattr(self, what) + 1
            setattr(self, what, value)
            return value


_health = _Health()


def enabled() -> bool:
    """Is an exporter configured in this process? (Timers that only feed metrics skip
    their storage reads when not.)"""
    try:
        return instruments() is not None
    except Exception:
        return False


def health() -> dict[str, int]:
    """Samples dropped (unsafe dimension) and emit errors swallowed in this process."""
    return {"dropped": _health.dropped, "errors": _health.errors}


def _emit(metric: Metric, value: float, dims: Mapping[str, str]) -> None:
    current = instruments()
    if current is None:
        return
    try:
        attributes = dimensions(metric, **dims)
    except UnsafeDimension as refused:
        # The message names the metric and the key only (archive.metrics), never the value.
        _health.count("dropped")
        log.warning("metric sample dropped: %s", refused)
        return
    except Exception:
        _health.count("errors")
        return
    try:
        current.record(metric, value, attributes)
    except Exception:
        if _health.count("errors") == 1:
            log.warning("metric emit failed (further failures are counted, not logged)",
                         exc_info=True)


def _safe(emit: Callable[P, None]) -> Callable[P, None]:
    """Decorate an emit function: whatever it raises is swallowed and counted."""
    @functools.wraps(emit)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            emit(*args, **kwargs)
        except Exception:
            _health.count("errors")
    return guarded


# A webhook route's HTTP status as (outcome, reason).
_STATUS_REASONS = {200: ("accepted", "ok"), 202: ("accepted", "ok"),
                   400: ("refused", "bad_request"), 401: ("refused", "signature"),
                   403: ("refused", "forbidden"), 404: ("refused", "not_found"),
                   405: ("refused", "method"), 413: ("refused", "too_large"),
                   415: ("refused", "media_type"), 500: ("refused", "misconfigured"),
                   503: ("refused", "storage")}


def status_outcome(status: int) -> tuple[str, str]:
    """(outcome, reason) of a webhook answered with HTTP `status`."""
    found = _STATUS_REASONS.get(int(status))
    if found is not None:
        return found
    return ("accepted", "ok") if 200 <= status < 300 else ("refused", f"http_{int(status)}")


@_safe
def webhook_answered(provider: str, status: int, started: float) -> None:
    """A webhook route answered with `status`; `started` is its time.perf_counter() at
    the start of the request. The one call a route makes (see docs/observability.md)."""
    outcome, reason = status_outcome(status)
    webhook(provider, outcome, reason, (time.perf_counter() - started) * 1000)


@_safe
def webhook(provider: str, outcome: str, reason: str, duration_ms: float) -> None:
    """A webhook answered: outcome `accepted` | `refused`, reason e.g. `ok`, `signature`,
    `too_large`, `storage`, `unparseable`; the duration from request to hand-off."""
    _emit(WEBHOOKS, 1, {"provider": provider, "outcome": outcome, "reason": reason})
    _emit(INGEST_LATENCY, max(float(duration_ms), 0.0),
          {"provider": provider, "outcome": outcome})


def _seconds_since(iso: Any, now: float) -> float | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        return max(now - datetime.fromisoformat(iso).timestamp(), 0.0)
    except (ValueError, OverflowError, OSError):
        return None


def _safe_type(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    try:
        dimensions(EVENTS_ARCHIVED, type=text)
    except UnsafeDimension:
        return _TYPE_FALLBACK
    return text


@_safe
def archived(record: Mapping[str, Any], *, now: float | None = None) -> None:
    """A record written for the first time (not a duplicate): counts it by provider,
    event and type, and observes both lags from the record's own `timestamp` (provider
    time) and `received_at` (webhook receipt) to now."""
    at = time.time() if now is None else now
    provider = str(record.get("provider") or "unknown")
    provider = provider if provider in PROVIDERS else "unknown"
    _emit(EVENTS_ARCHIVED, 1, {"provider": provider, "event": str(record.get("event")),
                               "type": _safe_type(record.get("type"))})
    lag = _seconds_since(record.get("timestamp"), at)
    if lag is not None:
        _emit(LAG_PROVIDER, lag, {"provider": provider})
    lag = _seconds_since(record.get("received_at"), at)
    if lag is not None:
        _emit(LAG_RECEIPT, lag, {"provider": provider})


@_safe
def media_stored(provider: str, size: int) -> None:
    """Media bytes stored (a new blob, not a duplicate)."""
    _emit(MEDIA_BYTES, max(int(size), 0), {"provider": provider})


# (needle in the lower-cased reason text, code); the first match wins.
_GAP_REASONS: tuple[tuple[str, str], ...] = (
    ("not_fetched", "not_fetched"),
    ("sha256", "hash_mismatch"),
    ("mismatch", "hash_mismatch"),
    ("cap", "too_large"),
    ("too large", "too_large"),
    ("exceeds", "too_large"),
    ("allow", "host_refused"),
    ("https only", "host_refused"),
    ("timeout", "timeout"),
    ("timed out", "timeout"),
    ("deadline", "timeout"),
    ("404", "not_found"),
    ("410", "not_found"),
    ("not found", "not_found"),
    ("expired", "not_found"),
    ("401", "unauthorized"),
    ("403", "unauthorized"),
    ("token", "unauthorized"),
)
GAP_REASON_CODES = frozenset(code for _, code in _GAP_REASONS) | {"fetch_failed"}


def gap_reason(reason: str | None) -> str:
    """A media gap's reason text (the activity's error message) as a fixed code: the
    text itself never becomes a dimension."""
    text = (reason or "").strip().lower()
    if text in GAP_REASON_CODES:
        return text
    return next((code for needle, code in _GAP_REASONS if needle in text), "fetch_failed")


@_safe
def media_gap(provider: str, reason: str | None) -> None:
    """A media item recorded as unavailable; `reason` is the record's reason text, which
    is reduced to a code (gap_reason) before it becomes a dimension."""
    _emit(MEDIA_GAPS, 1, {"provider": provider, "reason": gap_reason(reason)})


@_safe
def poison(kind: str, n: int = 1) -> None:
    """Messages set aside: `deadletter` (drained from ingest-poison), `quarantine`."""
    if n > 0:
        _emit(POISON, n, {"kind": kind})


@_safe
def queue_depth(queue: str, depth: int, oldest_age_s: float | None) -> None:
    """A queue's approximate depth and the age of its oldest message (0 when empty;
    None when unknown: the age is then not emitted, rather than a misleading 0)."""
    _emit(QUEUE_DEPTH, max(int(depth), 0), {"queue": queue})
    if oldest_age_s is not None:
        _emit(QUEUE_OLDEST_AGE, max(float(oldest_age_s), 0.0), {"queue": queue})


@_safe
def replayed(kind: str, n: int = 1) -> None:
    """Failures an operator replayed: `poison`, `orchestration`, `media_unavailable`,
    `deadletter`."""
    if n > 0:
        _emit(REPLAYS, n, {"kind": kind})


@_safe
def seal(outcome: str) -> None:
    """A seal run for a day: `sealed` (a seal written), `unchanged`, `failed`."""
    _emit(SEALS, 1, {"outcome": outcome})


@_safe
def verification(outcome: str) -> None:
    """A verification run: `passed` | `failed` (findings)."""
    _emit(VERIFICATIONS, 1, {"outcome": outcome})


@_safe
def disposed(container: str, n: int) -> None:
    """Blob versions deleted by the retention job, by container."""
    if n > 0:
        _emit(DISPOSALS, n, {"container": container})


@_safe
def holds(outcome: str, n: int) -> None:
    """Legal holds changed on blobs: `set` | `released` (| `refused`)."""
    if n > 0:
        _emit(HOLDS, n, {"outcome": outcome})


@_safe
def unresolved_setting(name: str) -> None:
    """An app setting still holding an unresolved Key Vault reference (its name only)."""
    _emit(SETTINGS_UNRESOLVED, 1, {"setting": name})

