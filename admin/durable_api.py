"""The Durable Functions HTTP management API, as the admin tools use it.

The same API is served by Azure Functions (`https://<app>.azurewebsites.net/runtime/
webhooks/durabletask/`, system key `durabletask_extension`), by `func start`, and by
devhost (`http://127.0.0.1:7071/runtime/webhooks/durabletask/`, DEVHOST_MASTER_KEY).

Settings: WA_DURABLE_API_URL + WA_DURABLE_API_KEY (environment), else the settings
file `wa-archive dev` writes into the project's data folder (its master key). A URL
and its key always come from the same place, so a key from the environment is never
sent to a URL read from a file. The HTTP
call itself goes through a small transport function, as httpx's transports do, so
tests can put a canned API behind the adapter without touching the code under test.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from admin.connection import AdminError, settings_file_values, settings_path

SETTING_DURABLE_URL = "WA_DURABLE_API_URL"
SETTING_DURABLE_KEY = "WA_DURABLE_API_KEY"
DEVHOST_MASTER_KEY = "DEVHOST_MASTER_KEY"
LOCAL_DURABLE_URL = "http://127.0.0.1:7071/runtime/webhooks/durabletask"
KEY_HEADER = "x-functions-key"
CONTINUATION_HEADER = "x-ms-continuation-token"
TIMEOUT_SECONDS = 10.0
PAGE_SIZE = 100
COUNT_CAP = 5000  # per status: a busy day stays a quick refresh
RUNTIME_STATUSES = ("Running", "Pending", "Completed", "Failed", "Terminated")
# What the failure views list: every way an orchestration can end without its work done.
UNSUCCESSFUL = ("Failed", "Terminated", "Canceled")
_MAX_REASON_CHARS = 300
_LAST_PAGE = (None, "", "null")

# (method, url, headers, body) -> (status, lower-cased headers, body)
Transport = Callable[[str, str, dict[str, str], bytes | None], tuple[int, dict[str, str], bytes]]


class DurableApiError(AdminError):
    """The Durable API could not answer; the message is one line for the admin."""


@dataclass(frozen=True)
class DurableSettings:
    base_url: str  # ends without "/"
    key: str | None
    source: str  # where the settings came from, for messages

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise DurableApiError(
                f"{SETTING_DURABLE_URL} must be an http(s) URL, got {self.base_url!r}"
            )

    @property
    def label(self) -> str:
        parsed = urllib.parse.urlsplit(self.base_url)
        return f"Durable API at {parsed.scheme}://{parsed.netloc} (from {self.source})"


def durable_settings(folder: Path | None = None) -> DurableSettings | None:
    """The environment's URL and key; else the data folder's settings file; else None."""
    url = os.environ.get(SETTING_DURABLE_URL, "").strip()
    key = os.environ.get(SETTING_DURABLE_KEY, "").strip() or None
    if url:
        return DurableSettings(url.rstrip("/"), key, f"${SETTING_DURABLE_URL}")
    if key:
        raise DurableApiError(
            f"{SETTING_DURABLE_KEY} is set but {SETTING_DURABLE_URL} is not: set both "
            f"(the key is only ever sent to the URL given with it)"
        )
    values = settings_file_values(folder)
    if values is None:
        return None
    file_url = str(values.get(SETTING_DURABLE_URL) or LOCAL_DURABLE_URL)
    file_key = values.get(SETTING_DURABLE_KEY) or values.get(DEVHOST_MASTER_KEY)
    return DurableSettings(
        file_url.rstrip("/"), str(file_key) if file_key else None, str(settings_path(folder))
    )


def urllib_transport(timeout: float = TIMEOUT_SECONDS) -> Transport:
    def send(
        method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        # The scheme is checked (http/https only) when the settings are read.
        request = urllib.request.Request(  # noqa: S310
            url, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                got = {k.lower(): v for k, v in response.headers.items()}
                return int(response.status), got, response.read()
        except urllib.error.HTTPError as exc:
            got = {k.lower(): v for k, v in exc.headers.items()}
            return int(exc.code), got, exc.read()

    return send


@dataclass(frozen=True)
class OrchestrationFailure:
    instance_id: str
    name: str
    status: str  # Failed, Terminated or Canceled
    created: str
    last_updated: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def failure_reason(output: Any, status: str = "Failed") -> str:
    """First line of the instance's output: the error, or the termination reason."""
    if isinstance(output, dict):
        output = output.get("message") or output.get("Message") or json.dumps(output)
    lines = str(output or "").strip().splitlines()
    fallback = f"{status.lower()} (no reason recorded)"
    return (lines[0].strip() if lines else fallback)[:_MAX_REASON_CHARS]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class DurableApi:
    def __init__(self, settings: DurableSettings, transport: Transport | None = None) -> None:
        self.settings = settings
        self._send = transport or urllib_transport()

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        url = f"{self.settings.base_url}/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        sent = {"Accept": "application/json", **(headers or {})}
        if self.settings.key:
            sent[KEY_HEADER] = self.settings.key
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        try:
            status, got, raw = self._send(method, url, sent, data)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DurableApiError(
                f"cannot reach the {self.settings.label}: {reason} (is the Function App "
                f"or `wa-archive dev` running? set {SETTING_DURABLE_URL})"
            ) from None
        if status in (401, 403):
            raise DurableApiError(
                f"the {self.settings.label} refused the key (HTTP {status}): set "
                f"{SETTING_DURABLE_KEY} to the durabletask_extension system key "
                f"(locally: DEVHOST_MASTER_KEY)"
            )
        try:
            value = json.loads(raw) if raw.strip() else None
        except ValueError:
            value = raw.decode("utf-8", "replace")[:200]
        return status, got, value

    def _expect(self, status: int, value: Any, what: str, ok: tuple[int, ...]) -> None:
        if status not in ok:
            detail = value.get("Message") if isinstance(value, dict) else value
            raise DurableApiError(
                f"the {self.settings.label} answered HTTP {status} to {what}: {detail}"
            )

    def query_page(
        self,
        *,
        statuses: tuple[str, ...] = (),
        created_from: datetime | None = None,
        top: int = PAGE_SIZE,
        continuation: str | None = None,
        show_input: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        params = {"top": str(top), "showInput": "true" if show_input else "false"}
        if statuses:
            params["runtimeStatus"] = ",".join(statuses)
        if created_from is not None:
            params["createdTimeFrom"] = _iso(created_from)
        headers = {CONTINUATION_HEADER: continuation} if continuation else None
        status, got, value = self._call("GET", "instances", params, headers=headers)
        self._expect(status, value, "an instance query", (200,))
        rows = [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
        token = got.get(CONTINUATION_HEADER)
        # Azure sends the literal "null" on the last page.
        return rows, None if token in _LAST_PAGE else token

    def _walk(self, statuses: tuple[str, ...], since: datetime, cap: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while len(found) < cap:
            rows, token = self.query_page(
                statuses=statuses, created_from=since,
                top=min(PAGE_SIZE, cap - len(found)), continuation=token,
            )
            found.extend(rows)
            if not token:
                break
        return found[:cap]

    def unsuccessful(self, since: datetime, limit: int = 200) -> list[OrchestrationFailure]:
        """Failed, Terminated and Canceled instances created since `since` (newest first)."""
        return self._ended(UNSUCCESSFUL, since, limit)

    def failed(self, since: datetime, limit: int = 200) -> list[OrchestrationFailure]:
        """Only the Failed instances created since `since` (newest first)."""
        return self._ended(("Failed",), since, limit)

    def _ended(
        self, statuses: tuple[str, ...], since: datetime, limit: int
    ) -> list[OrchestrationFailure]:
        rows = self._walk(statuses, since, limit)
        failures = [
            OrchestrationFailure(
                instance_id=str(r.get("instanceId", "")),
                name=str(r.get("name", "")),
                status=str(r.get("runtimeStatus") or statuses[0]),
                created=str(r.get("createdTime", "")),
                last_updated=str(r.get("lastUpdatedTime", "")),
                reason=failure_reason(r.get("output"), str(r.get("runtimeStatus") or statuses[0])),
            )
            for r in rows
        ]
        failures.sort(key=lambda f: f.created, reverse=True)
        return failures

    def counts(self, since: datetime, cap: int = COUNT_CAP) -> dict[str, int]:
        """Instances per runtime status created since `since` (each capped at `cap`)."""
        return {s: len(self._walk((s,), since, cap)) for s in RUNTIME_STATUSES}

    def status(self, instance_id: str) -> dict[str, Any] | None:
        path = "instances/" + urllib.parse.quote(instance_id, safe="")
        status, _, value = self._call("GET", path, {"showInput": "true"})
        if status == 404:
            return None
        self._expect(status, value, f"a status request for {instance_id}", (200, 202))
        return value if isinstance(value, dict) else None

    def start(self, name: str, instance_id: str, payload: Any) -> None:
        path = (
            f"orchestrators/{urllib.parse.quote(name, safe='')}/"
            f"{urllib.parse.quote(instance_id, safe='')}"
        )
        status, _, value = self._call("POST", path, body=payload)
        self._expect(status, value, f"starting {name} {instance_id}", (200, 201, 202))

    def restart(self, instance_id: str) -> str:
        """Start a Failed instance again: same orchestrator, same id, its original input.

        The start API replaces an instance that is no longer running, so the history
        starts over; a Running or Completed instance is left alone. Returns the name.
        """
        current = self.status(instance_id)
        if current is None:
            raise DurableApiError(f"orchestration {instance_id!r} does not exist")
        state = str(current.get("runtimeStatus"))
        if state not in UNSUCCESSFUL:
            raise DurableApiError(
                f"orchestration {instance_id!r} is {state}; only a Failed, Terminated or "
                f"Canceled one is restarted"
            )
        name = str(current.get("name") or "")
        self.start(name, instance_id, current.get("input"))
        return name


def open_durable(folder: Path | None = None) -> DurableApi | None:
    settings = durable_settings(folder)
    return DurableApi(settings) if settings else None
