"""The Durable Functions HTTP management API, as the admin tools use it.

The same API is served by Azure Functions (`https://<app>.azurewebsites.net/runtime/
webhooks/durabletask/`, system key `durabletask_extension`), by `func start`, and by
devhost (`http://127.0.0.1:7071/runtime/webhooks/durabletask/`, DEVHOST_MASTER_KEY).

Settings, first found wins: WA_DURABLE_API_URL + WA_DURABLE_API_KEY (environment);
a WA_DURABLE_API_URL written into the data folder's settings.json; the discovery file
`durable-api.json` that a running `wa-archive dev` writes into the same folder (the URL
it actually serves, its master key, its pid); else the settings file's master key with
the default local URL. A URL and its key always come from the same place, so a key from
the environment is never sent to a URL read from a file. A discovery file whose process
is gone says so ("wa-archive dev is not running (started pid N, gone)") instead of a
connection error. The HTTP
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

from admin.connection import AdminError, data_dir, settings_file_values, settings_path
from admin.private_files import read_private_json, write_private_json

SETTING_DURABLE_URL = "WA_DURABLE_API_URL"
SETTING_DURABLE_KEY = "WA_DURABLE_API_KEY"
DEVHOST_MASTER_KEY = "DEVHOST_MASTER_KEY"
LOCAL_DURABLE_URL = "http://127.0.0.1:7071/runtime/webhooks/durabletask"
DURABLE_PATH = "/runtime/webhooks/durabletask"
# Written by `wa-archive dev` once it serves, removed when it stops (cli/dev.py).
DISCOVERY_NAME = "durable-api.json"
DISCOVERY_SCHEMA = "wa-archive/durable-api@1"
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
    pid: int | None = None  # the `wa-archive dev` that wrote the discovery file
    pid_start: str | None = None  # that process's start time (/proc), against pid reuse

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise DurableApiError(
                f"{SETTING_DURABLE_URL} must be an http(s) URL, got {self.base_url!r}"
            )

    @property
    def label(self) -> str:
        parsed = urllib.parse.urlsplit(self.base_url)
        return f"Durable API at {parsed.scheme}://{parsed.netloc} (from {self.source})"


def discovery_path(folder: Path | None = None) -> Path:
    return data_dir(folder) / DISCOVERY_NAME


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), else None."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat_line.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, started: str | None = None) -> bool:
    """Is `pid` still the process that wrote the file (not a new one under a reused pid)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process holds the pid: alive, but see the start time
    if started is not None:
        current = process_start(pid)
        if current is not None and current != started:
            return False
    return True


def not_running(pid: int) -> str:
    return f"wa-archive dev is not running (started pid {pid}, gone)"


def write_discovery(folder: Path, base_url: str, key: str | None,
                    pid: int | None = None) -> Path:
    """Atomically write the discovery file, owner-only (it holds the master key)."""
    pid = os.getpid() if pid is None else pid
    path = folder / DISCOVERY_NAME
    doc = {"schema": DISCOVERY_SCHEMA, SETTING_DURABLE_URL: base_url.rstrip("/"),
           SETTING_DURABLE_KEY: key, "pid": pid, "pid_start": process_start(pid)}
    write_private_json(path, doc)
    return path


def remove_discovery(folder: Path, pid: int | None = None) -> None:
    """Remove the discovery file if this process (or `pid`) wrote it; leave another's."""
    pid = os.getpid() if pid is None else pid
    path = folder / DISCOVERY_NAME
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(written, dict) and written.get("pid") == pid:
        path.unlink(missing_ok=True)


def discovered(folder: Path | None = None) -> DurableSettings | None:
    """The discovery file of a `wa-archive dev` on this data folder, if there is one."""
    path = discovery_path(folder)
    # None when absent or unreadable: the lookup falls back to settings.json.
    doc = read_private_json(path, DurableApiError)
    if not isinstance(doc, dict) or not doc.get(SETTING_DURABLE_URL):
        return None
    pid = doc.get("pid")
    key = doc.get(SETTING_DURABLE_KEY)
    return DurableSettings(
        str(doc[SETTING_DURABLE_URL]).rstrip("/"), str(key) if key else None, str(path),
        pid=pid if isinstance(pid, int) else None,
        pid_start=str(doc["pid_start"]) if doc.get("pid_start") else None,
    )


def durable_settings(folder: Path | None = None) -> DurableSettings | None:
    """The environment's URL and key; else the data folder's files (see above); else None."""
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
    if values is not None and values.get(SETTING_DURABLE_URL):
        # Written there on purpose (e.g. an Azure app from this workstation): it wins.
        file_key = values.get(SETTING_DURABLE_KEY) or values.get(DEVHOST_MASTER_KEY)
        return DurableSettings(str(values[SETTING_DURABLE_URL]).rstrip("/"),
                               str(file_key) if file_key else None, str(settings_path(folder)))
    found = discovered(folder)
    if found is not None:
        return found
    if values is None:
        return None
    file_key = values.get(SETTING_DURABLE_KEY) or values.get(DEVHOST_MASTER_KEY)
    return DurableSettings(
        LOCAL_DURABLE_URL, str(file_key) if file_key else None, str(settings_path(folder))
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
        self.check_running()
        try:
            status, got, raw = self._send(method, url, sent, data)
        except (urllib.error.URLError, OSError) as exc:
            self.check_running()  # it may have stopped since the last call
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

    def check_running(self) -> None:
        """A discovery file's `wa-archive dev` that is gone: say so, not "connection refused"."""
        pid = self.settings.pid
        if pid is not None and not process_alive(pid, self.settings.pid_start):
            raise DurableApiError(not_running(pid))

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
