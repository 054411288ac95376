"""`wa-archive dev` end to end: Azurite + provisioning + devhost, clean Ctrl-C, data kept."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import IO

import pytest
from azure.storage.blob import BlobServiceClient

from archive.names import CONTAINERS, RAW_CONTAINER
from tests.devhost.host_support import APPS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
READY = "devhost ready "


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def dev_command(data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cli.main",  # the `wa-archive` console script's entry point
        "dev",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--rpc-port",
        "0",
        "--azurite-ports",
        "auto",
        "--app",
        str(APPS / "host_http.py"),
    ]


class DevProcess:
    def __init__(
        self, command: list[str], env: dict[str, str] | None = None, own_group: bool = False
    ) -> None:
        self.proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=own_group,  # a process group of its own, like a terminal job
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        # Drained even when no test reads it: a full stderr pipe would block the child.
        self.errors: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=_pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=_pump, args=(self.proc.stderr, self.errors), daemon=True).start()

    def stderr_text(self) -> str:
        return "".join(self.errors.queue)

    def kill_group(self) -> None:
        """SIGKILL the whole process group, as an OOM kill or a closed terminal does."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait_ready(self, timeout: float = 90.0) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no ready line; output so far: {self.output}") from None
            self.output.append(line)
            if line.startswith(READY):
                return line[len(READY) :].strip()

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def test_dev_runs_stops_cleanly_and_keeps_data(tmp_path: Path):
    data_dir = tmp_path / "wa-data"
    first = DevProcess(dev_command(data_dir))
    try:
        url = first.wait_ready()
        settings = json.loads((data_dir / "settings.json").read_text())
        master = settings["DEVHOST_MASTER_KEY"]
        status, body = _get(f"{url}/admin/host/status?code={master}")
        assert status == 200
        assert "hello" in json.loads(body)["functions"]
        assert _get(f"{url}/api/hello/dev") == (200, b"hello dev")
        # ensure_archive_resources ran: the raw container exists; store a blob in it.
        blobs = BlobServiceClient.from_connection_string(settings["ARCHIVE_STORAGE"])
        # Every container of archive.names, the quarantine and deadletter ones included.
        assert {c.name for c in blobs.list_containers()} >= set(CONTAINERS)
        blobs.get_container_client(RAW_CONTAINER).upload_blob("kept.txt", b"still here")
    finally:
        code = first.interrupt()
    assert code == 0
    printed = "".join(first.output)
    assert f"{url}/api/webhooks/meta" in printed
    for secret in ("DEVHOST_MASTER_KEY", "DEVHOST_FUNCTION_KEY", "WHATSAPP_APP_SECRET"):
        assert settings[secret] not in printed
    assert settings["WHATSAPP_GRAPH_URL"] == "https://graph.facebook.com/v21.0"
    assert _processes_mentioning(str(data_dir / "azurite")) == []

    second = DevProcess(dev_command(data_dir))
    try:
        url = second.wait_ready()
        again = json.loads((data_dir / "settings.json").read_text())
        for kept in ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "DEVHOST_FUNCTION_KEY"):
            assert again[kept] == settings[kept]
        blobs = BlobServiceClient.from_connection_string(again["ARCHIVE_STORAGE"])
        blob = blobs.get_blob_client(RAW_CONTAINER, "kept.txt")
        assert blob.download_blob().readall() == b"still here"
    finally:
        assert second.interrupt() == 0
    assert _processes_mentioning(str(data_dir / "azurite")) == []


def _devhost(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "devhost", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_python_m_devhost_serves_and_stops_cleanly(stop_signal: signal.Signals):
    proc = _devhost("--app", str(APPS / "host_http.py"), "--port", "0", "--rpc-port", "0")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(READY), line
        url = line[len(READY) :].strip()
        assert _get(f"{url}/api/hello/main") == (200, b"hello main")
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_python_m_devhost_refuses_an_unservable_app():
    proc = _devhost("--app", str(APPS / "host_bad_binding.py"), "--port", "0")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "read_blob" in stderr
    assert "'blob'" in stderr
