"""host.json and app settings, read the way the Functions host reads them.

Only the parts devhost serves are modelled; defaults are the real host's
(Functions v4, storage extension 5.x) so an absent host.json behaves like Azure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_HTTP_BODY_LIMIT = 100 * 1024 * 1024  # the host's default maxRequestBodySize (~100 MB)
HOST_STORAGE_SETTING = "AzureWebJobsStorage"
BODY_LIMIT_SETTING = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?$")
_SETTING_REF = re.compile(r"%([^%]+)%")


class ConfigError(ValueError):
    """host.json or an app setting is malformed or missing."""


def parse_timespan(value: str | float | int) -> float:
    """Seconds in a .NET TimeSpan string ("[d.]hh:mm:ss[.fff]"); plain numbers pass through."""
    if isinstance(value, int | float):
        return float(value)
    match = _TIMESPAN.match(value.strip())
    if match is None:
        raise ConfigError(f"not a TimeSpan (expected hh:mm:ss): {value!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


@dataclass(frozen=True)
class QueueOptions:
    """extensions.queues, with the storage extension's defaults."""

    batch_size: int = 16
    new_batch_threshold: int | None = None  # None: batch_size // 2, as the host computes it
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @property
    def effective_new_batch_threshold(self) -> int:
        if self.new_batch_threshold is not None:
            return self.new_batch_threshold
        return self.batch_size // 2

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> QueueOptions:
        encoding = str(raw.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ConfigError(
                f"extensions.queues.messageEncoding must be base64 or none: {encoding}"
            )
        batch_size = int(raw.get("batchSize", 16))
        if not 1 <= batch_size <= 32:
            raise ConfigError("extensions.queues.batchSize must be between 1 and 32")
        threshold = raw.get("newBatchThreshold")
        return cls(
            batch_size=batch_size,
            new_batch_threshold=None if threshold is None else int(threshold),
            max_polling_interval=parse_timespan(raw.get("maxPollingInterval", "00:01:00")),
            visibility_timeout=parse_timespan(raw.get("visibilityTimeout", "00:00:00")),
            max_dequeue_count=int(raw.get("maxDequeueCount", 5)),
            message_encoding=encoding,
        )


@dataclass(frozen=True)
class DurableOptions:
    hub_name: str = "TestHubName"
    max_concurrent_activities: int = 10
    max_concurrent_orchestrators: int = 10

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> DurableOptions:
        return cls(
            hub_name=str(raw.get("hubName", "TestHubName")),
            max_concurrent_activities=int(raw.get("maxConcurrentActivityFunctions", 10)),
            max_concurrent_orchestrators=int(raw.get("maxConcurrentOrchestratorFunctions", 10)),
        )


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    max_request_body_bytes: int = DEFAULT_HTTP_BODY_LIMIT
    queues: QueueOptions = field(default_factory=QueueOptions)
    durable: DurableOptions = field(default_factory=DurableOptions)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HostConfig:
        extensions = raw.get("extensions") or {}
        http = extensions.get("http") or {}
        return cls(
            route_prefix=str(http.get("routePrefix", "api")).strip("/"),
            queues=QueueOptions.from_json(extensions.get("queues") or {}),
            durable=DurableOptions.from_json(extensions.get("durableTask") or {}),
        )

    @classmethod
    def load(cls, path: Path | None, environ: Mapping[str, str] | None = None) -> HostConfig:
        raw: dict[str, Any] = {}
        if path is not None and path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        config = cls.from_json(raw)
        env = os.environ if environ is None else environ
        # The host takes its body limit from this app setting, not from host.json.
        limit = env.get(BODY_LIMIT_SETTING)
        if limit:
            config = replace(config, max_request_body_bytes=int(limit))
        return config


def resolve_setting_refs(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace %NAME% with the app setting NAME, as the host does for binding expressions."""
    env = os.environ if environ is None else environ

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"app setting {name!r} referenced as %{name}% is not set")
        return env[name]

    return _SETTING_REF.sub(lookup, value)


def storage_connection(setting: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The connection string a binding's `connection` names, falling back to AzureWebJobsStorage."""
    env = os.environ if environ is None else environ
    candidates = [setting, f"AzureWebJobs{setting}"] if setting else []
    for name in [*candidates, HOST_STORAGE_SETTING]:
        if name and env.get(name):
            return env[name]
    raise ConfigError(
        f"no storage connection: set {setting or HOST_STORAGE_SETTING} (or {HOST_STORAGE_SETTING})"
    )


def load_settings_file(path: Path) -> dict[str, str]:
    """Settings JSON: a flat object, or local.settings.json's {"Values": {...}} shape."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    values = raw.get("Values", raw) if isinstance(raw, dict) else None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a JSON object of settings")
    return {str(k): str(v) for k, v in values.items()}
