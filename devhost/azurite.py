"""Start and stop an Azurite emulator from the project's pinned npm install.

Used by `wa-archive dev` (persistent data under .wa-archive/) and by the test
fixtures (free ports, temp folder). Azurite has no immutability policies, legal
holds or versioning; code that depends on those is exercised in Azure only.

Each start records the process in `<location>/azurite.pid.json`, stops an earlier
Azurite left running on the same folder (devhost/azurite_pid.py), and ties the new
one to this process's lifetime (devhost/lifeline.py).
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

from devhost import azurite_pid, lifeline
from devhost.ports import PortHolder, port_holder

REPO_ROOT = Path(__file__).resolve().parent.parent
SAVE_ON_EXIT = Path(__file__).resolve().parent / "azurite_save_on_exit.js"
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's fixed, publicly documented development key: not a secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class AzuriteError(RuntimeError):
    """Azurite could not be installed, started or reached."""


class PortInUse(AzuriteError):
    """A port Azurite needs is held by another process."""

    def __init__(self, host: str, port: int, holder: PortHolder | None) -> None:
        self.host, self.port, self.holder = host, port, holder
        by = f" by {holder.describe()}" if holder is not None else ""
        super().__init__(f"port {port} on {host} is already in use{by}")


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
        self.retired_pid: int | None = None  # an earlier Azurite this start stopped

    @property
    def connection_string(self) -> str:
        return self.endpoints.connection_string

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        ep = self.endpoints
        return [
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

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        self.location.mkdir(parents=True, exist_ok=True)
        self._retire_earlier()
        ep = self.endpoints
        for port in (ep.blob_port, ep.queue_port, ep.table_port):
            if _port_open(ep.host, port):
                raise PortInUse(ep.host, port, port_holder(port))
        log = self.log_path.open("ab")
        # A session of its own: Ctrl-C reaches devhost only, which stops Azurite after
        # checkpointing; lifeline still takes Azurite down if we are killed outright.
        self._process = lifeline.spawn(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_azurite_env(),
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AzuriteError(f"Azurite exited early; see {self.log_path}")
            if all(_ready(ep.host, p) for p in (ep.blob_port, ep.queue_port, ep.table_port)):
                self._record()
                return
            time.sleep(0.1)
        self.stop()
        raise AzuriteError(f"Azurite did not become ready in {timeout:.0f}s; see {self.log_path}")

    def _retire_earlier(self) -> None:
        earlier = azurite_pid.earlier_azurite(self.location)
        if earlier is None:
            return
        try:
            azurite_pid.retire(earlier)
        except azurite_pid.EarlierAzuriteBusy as exc:
            raise AzuriteError(str(exc)) from exc
        self.retired_pid = earlier.pid

    def _record(self) -> None:
        assert self._process is not None
        ep = self.endpoints
        azurite_pid.write_record(
            self.location,
            azurite_pid.AzuriteRecord(
                pid=self._process.pid,
                owner=os.getpid(),
                host=ep.host,
                blob_port=ep.blob_port,
                queue_port=ep.queue_port,
                table_port=ep.table_port,
                location=str(self.location),
                dies_with_owner=lifeline.supported(),
            ),
        )

    def stop(self, timeout: float = 10.0) -> None:
        proc = self._process
        self._process = None
        if proc is None or proc.poll() is not None:
            return
        # Signal the whole group: Azurite's session holds anything node forked.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
        azurite_pid.remove_record(self.location, proc.pid)

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


def _azurite_env() -> dict[str, str]:
    """The environment plus a preload that saves Azurite's metadata on SIGTERM/SIGINT."""
    env = dict(os.environ)
    if SAVE_ON_EXIT.exists():
        preload = f'--require "{SAVE_ON_EXIT}"'
        env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} {preload}".strip()
    return env


def _ready(host: str, port: int) -> bool:
    # Any HTTP answer (even 400/403) means the service is listening and parsing.
    try:
        urllib.request.urlopen(f"http://{host}:{port}/", timeout=0.5)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
