"""Start and stop an Azurite emulator from the project's pinned npm install.

Used by `wa-archive dev` (persistent data under .wa-archive/) and by the test
fixtures (free ports, temp folder). Azurite has no immutability policies, legal
holds or versioning; code that depends on those is exercised in Azure only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's fixed, publicly documented development key: not a secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class AzuriteError(RuntimeError):
    """Azurite could not be installed, started or reached."""


@dataclass(frozen=True)
class AzuriteEndpoints:
    host: str
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        base = f"http://{self.host}"
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{ACCOUNT_NAME};"
            f"QueueEndpoint={base}:{self.queue_port}/{ACCOUNT_NAME};"
            f"TableEndpoint={base}:{self.table_port}/{ACCOUNT_NAME};"
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def azurite_binary() -> Path:
    binary = REPO_ROOT / "node_modules" / ".bin" / "azurite"
    if binary.exists():
        return binary
    on_path = shutil.which("azurite")
    if on_path:
        return Path(on_path)
    raise AzuriteError(
        "Azurite is not installed: run scripts/bootstrap (it runs `npm ci` from package-lock.json)"
    )


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Azurite:
    """One Azurite process serving blob, queue and table on the given ports."""

    def __init__(
        self,
        location: Path,
        *,
        host: str = "127.0.0.1",
        blob_port: int | None = None,
        queue_port: int | None = None,
        table_port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.location = location
        self.endpoints = AzuriteEndpoints(
            host=host,
            blob_port=blob_port or free_port(host),
            queue_port=queue_port or free_port(host),
            table_port=table_port or free_port(host),
        )
        self.log_path = log_path or location / "azurite.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return self.endpoints.connection_string

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        self.location.mkdir(parents=True, exist_ok=True)
        ep = self.endpoints
        for port in (ep.blob_port, ep.queue_port, ep.table_port):
            if _port_open(ep.host, port):
                raise AzuriteError(f"port {port} on {ep.host} is already in use")
        cmd = [
            str(azurite_binary()),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--location",
            str(self.location),
            "--blobHost",
            ep.host,
            "--queueHost",
            ep.host,
            "--tableHost",
            ep.host,
            "--blobPort",
            str(ep.blob_port),
            "--queuePort",
            str(ep.queue_port),
            "--tablePort",
            str(ep.table_port),
        ]
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AzuriteError(f"Azurite exited early; see {self.log_path}")
            if all(_ready(ep.host, p) for p in (ep.blob_port, ep.queue_port, ep.table_port)):
                return
            time.sleep(0.1)
        self.stop()
        raise AzuriteError(f"Azurite did not become ready in {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        proc = self._process
        self._process = None
        if proc is None or proc.poll() is not None:
            return
        # Azurite runs under node via a shell shim: signal the whole group.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Simulate a storage outage: SIGKILL, no clean shutdown."""
        proc = self._process
        self._process = None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _ready(host: str, port: int) -> bool:
    # Any HTTP answer (even 400/403) means the service is listening and parsing.
    try:
        urllib.request.urlopen(f"http://{host}:{port}/", timeout=0.5)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
