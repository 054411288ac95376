"""Run the real function_app under `python -m devhost` on a private Azurite, for e2e tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from devhost import lifeline
from devhost.azurite import REPO_ROOT, free_port
from tests.support import webhooks
from tests.support.pipeline_env import settings_for

FUNCTION_KEY = "e2e-function-key"
READY_TIMEOUT = 90.0
T = TypeVar("T")


class DevHostProcess:
    def __init__(
        self,
        conn: str,
        graph_url: str,
        log_path: Path,
        *,
        host_json: Path | None = None,
        launcher: Sequence[str] | None = None,
        extra_env: dict[str, str] | None = None,
        app: Path = REPO_ROOT / "function_app.py",
    ) -> None:
        self.conn = conn
        self.graph_url = graph_url
        self.log_path = log_path
        self.url = ""
        self.host_json = host_json
        # `python -m devhost` unless a test wraps it; ports stay fixed across restarts.
        self.launcher = list(launcher or [sys.executable, "-m", "devhost"])
        self.extra_env = dict(extra_env or {})
        self.app = app
        self.port = free_port()
        self.rpc_port = free_port()
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> DevHostProcess:
        env = dict(os.environ)
        env.update(settings_for(self.conn, self.graph_url))
        env["DEVHOST_FUNCTION_KEY"] = FUNCTION_KEY
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        args = [*self.launcher, "--app", str(self.app),
                "--port", str(self.port), "--rpc-port", str(self.rpc_port)]
        if self.host_json is not None:
            args += ["--host-json", str(self.host_json)]
        log = self.log_path.open("a")
        # Tied to this process: a killed test run leaves no devhost holding its ports.
        self._proc = lifeline.spawn(
            args,
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
            start_new_session=True,
        )
        log.close()
        ready = threading.Event()
        lines: list[str] = []

        def read() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                lines.append(line)
                if line.startswith("devhost ready "):
                    self.url = line.split(" ", 2)[2].strip()
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(READY_TIMEOUT):
            self.stop()
            raise RuntimeError(f"devhost did not start; see {self.log_path}: {lines[-5:]}")
        return self

    def kill(self) -> None:
        """SIGKILL, as a crashed host: no shutdown code runs."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0) -> T:
    """Poll `probe` until it returns a truthy value; a bounded wait, never a timing assertion."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {json.dumps(last, default=str)})")


def send_webhook(
    host: DevHostProcess, doc_or_body: dict[str, object] | bytes, secret: str | None = None
) -> int:
    """POST a Meta webhook signed with the test app secret (or `secret`); the HTTP status."""
    body = doc_or_body if isinstance(doc_or_body, bytes) else webhooks.body_of(doc_or_body)
    headers = webhooks.signed_headers(body, secret or webhooks.APP_SECRET)
    status, _ = http("POST", f"{host.url}/api/webhooks/meta", body, headers)
    return status
