"""The pipeline's metrics: one catalogue for the emitters, the Bicep alert rules and the docs.

Names are what Azure Monitor shows (Application Insights `customMetrics.name`), so the
alert queries in bicep/modules/observability.bicep match them literally; a consistency test
keeps the two in step. Dimensions are an allow-list: every key is named here with the
values it may take (or a bounded pattern), so no emitter can put message content, a phone
number, a message id or a blob path into a dimension — `dimensions()` refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from archive.events import EVENT_KINDS

Kind = Literal["counter", "histogram", "gauge"]

PROVIDERS = frozenset({"meta", "wasender", "twilio", "acs", "outbound", "unknown"})
EVENTS = frozenset(EVENT_KINDS)
# Short lowercase words only: a reason, outcome, queue or type can never hold an id.
_WORD = re.compile(r"\A[a-z][a-z0-9_.-]{0,39}\Z")


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    unit: str
    description: str
    dimensions: tuple[str, ...] = ()


WEBHOOKS = Metric(
    "wa_archive.webhooks",
    "counter",
    "{webhook}",
    "Webhook deliveries answered, by provider, outcome and reason.",
    ("provider", "outcome", "reason"),
)
INGEST_LATENCY = Metric(
    "wa_archive.ingest.duration",
    "histogram",
    "ms",
    "Time from request to durable hand-off (or refusal).",
    ("provider", "outcome"),
)
EVENTS_ARCHIVED = Metric(
    "wa_archive.events.archived",
    "counter",
    "{event}",
    "Records written (first write of an event; duplicates excluded).",
    ("provider", "event", "type"),
)
LAG_PROVIDER = Metric(
    "wa_archive.lag.provider",
    "histogram",
    "s",
    "Provider timestamp to record written.",
    ("provider",),
)
LAG_RECEIPT = Metric(
    "wa_archive.lag.receipt", "histogram", "s", "Webhook receipt to record written.", ("provider",)
)
MEDIA_BYTES = Metric(
    "wa_archive.media.bytes", "counter", "By", "Media bytes stored.", ("provider",)
)
MEDIA_GAPS = Metric(
    "wa_archive.media.gaps",
    "counter",
    "{item}",
    "Media items recorded as unavailable.",
    ("provider", "reason"),
)
POISON = Metric(
    "wa_archive.poison",
    "counter",
    "{message}",
    "Messages moved to a poison queue, dead letter or quarantine.",
    ("kind",),
)
QUEUE_DEPTH = Metric(
    "wa_archive.queue.depth",
    "gauge",
    "{message}",
    "Approximate messages in a pipeline queue.",
    ("queue",),
)
QUEUE_OLDEST_AGE = Metric(
    "wa_archive.queue.oldest_age",
    "gauge",
    "s",
    "Age of the oldest message in a pipeline queue.",
    ("queue",),
)
REPLAYS = Metric(
    "wa_archive.replays", "counter", "{item}", "Failures replayed by an operator.", ("kind",)
)
SEALS = Metric(
    "wa_archive.seals", "counter", "{seal}", "Daily seals written or failed.", ("outcome",)
)
VERIFICATIONS = Metric(
    "wa_archive.verifications", "counter", "{run}", "Verification runs by outcome.", ("outcome",)
)
DISPOSALS = Metric(
    "wa_archive.retention.disposed",
    "counter",
    "{blob}",
    "Blob versions deleted by the retention job.",
    ("container",),
)
HOLDS = Metric(
    "wa_archive.holds", "counter", "{blob}", "Legal holds set or released on blobs.", ("outcome",)
)
SETTINGS_UNRESOLVED = Metric(
    "wa_archive.settings.unresolved",
    "counter",
    "{setting}",
    "App settings still holding an unresolved Key Vault reference.",
    ("setting",),
)

CATALOGUE: tuple[Metric, ...] = (
    WEBHOOKS,
    INGEST_LATENCY,
    EVENTS_ARCHIVED,
    LAG_PROVIDER,
    LAG_RECEIPT,
    MEDIA_BYTES,
    MEDIA_GAPS,
    POISON,
    QUEUE_DEPTH,
    QUEUE_OLDEST_AGE,
    REPLAYS,
    SEALS,
    VERIFICATIONS,
    DISPOSALS,
    HOLDS,
    SETTINGS_UNRESOLVED,
)
BY_NAME: Mapping[str, Metric] = {m.name: m for m in CATALOGUE}


class UnsafeDimension(ValueError):
    """A dimension key or value that is not on the allow-list (never logged with its value)."""


def _allowed(key: str, value: str) -> bool:
    if key == "provider":
        return value in PROVIDERS
    if key == "event":
        return value in EVENTS
    if key == "type":
        # A record type: a media kind, "text", or a provider field such as "field:calls".
        return re.fullmatch(r"[a-z][a-z0-9_:.-]{0,39}", value) is not None
    if key == "setting":
        # Setting names are upper-case identifiers, never values.
        return re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", value) is not None
    return _WORD.match(value) is not None


def dimensions(metric: Metric, **values: str) -> dict[str, str]:
    """The attributes to emit `metric` with, checked against the allow-list."""
    unknown = set(values) - set(metric.dimensions)
    if unknown:
        raise UnsafeDimension(f"{metric.name}: dimension(s) {sorted(unknown)} not allowed")
    checked: dict[str, str] = {}
    for key, value in values.items():
        if not _allowed(key, value):
            raise UnsafeDimension(f"{metric.name}: value of {key!r} is not allowed")
        checked[key] = value
    return checked
