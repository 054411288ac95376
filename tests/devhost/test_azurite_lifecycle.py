"""Azurite and devhost children never outlive what started them, and a later start
cleans up after an earlier one (issue 18). Linux: parent-death signal and /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devhost import azurite_pid
from devhost.azurite import REPO_ROOT, Azurite, AzuriteError, _port_open
from tests.devhost.host_support import APPS
from tests.e2e.pipeline_harness import wait_for

pytestmark = pytest.mark.devhost


def _gone(pid: int) -> bool:
    return not azurite_pid.alive(pid)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _child(code: str) -> tuple[subprocess.Popen[str], int]:
    """A Python child that starts something, prints its pid and then waits to be killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("pid "), line
    return proc, int(line.split()[1])


def test_azurite_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    # Started from a worker thread, as the reliability tests do with asyncio.to_thread.
    code = (
        "import threading, time\n"
        "from pathlib import Path\n"
        "from devhost.azurite import Azurite\n"
        f"a = Azurite(Path({str(tmp_path / 'azurite')!r}))\n"
        "t = threading.Thread(target=a.start); t.start(); t.join()\n"
        "print('pid', a._process.pid, flush=True); time.sleep(300)\n"
    )
    parent, azurite = _child(code)
    assert azurite_pid.alive(azurite)
    parent.kill()  # SIGKILL: no cleanup code runs in the parent
    parent.wait()
    assert wait_for("Azurite to exit with its parent", lambda: _gone(azurite), timeout=30)


def test_azurite_outlives_the_short_lived_thread_that_started_it(tmp_path: Path) -> None:
    emulator = Azurite(tmp_path / "azurite")
    native: list[int] = []

    def start() -> None:
        native.append(threading.get_native_id())
        emulator.start()

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    try:
        # The kernel signals on the exit of the forking thread: wait until it is really gone.
        task = Path(f"/proc/self/task/{native[0]}")
        wait_for("the thread to exit", lambda: not task.exists(), timeout=30)
        blobs = BlobServiceClient.from_connection_string(emulator.connection_string)
        assert blobs.get_service_properties() is not None
        assert emulator.running
    finally:
        emulator.stop()


def test_an_orphaned_earlier_azurite_is_stopped_and_replaced(tmp_path: Path) -> None:
    location = tmp_path / "azurite"
    location.mkdir()
    first = Azurite(location)
    # An Azurite left behind by a killed `wa-archive dev` of an older version: no
    # parent-death signal, its owner gone, still serving the same folder and ports.
    orphan = subprocess.Popen(first.command(), stdout=subprocess.DEVNULL, start_new_session=True)
    ep = first.endpoints
    record = azurite_pid.AzuriteRecord(
        pid=orphan.pid, owner=_dead_pid(), host=ep.host, blob_port=ep.blob_port,
        queue_port=ep.queue_port, table_port=ep.table_port, location=str(location),
        dies_with_owner=False,
    )
    azurite_pid.write_record(location, record)
    conn = first.connection_string
    blobs = BlobServiceClient.from_connection_string(conn)
    wait_for("the orphan to serve", lambda: _serves(blobs), timeout=60)
    blobs.create_container("kept")
    blobs.get_blob_client("kept", "b.txt").upload_blob(b"before the crash")

    second = Azurite(location, blob_port=ep.blob_port, queue_port=ep.queue_port,
                     table_port=ep.table_port)
    try:
        second.start()
        assert orphan.wait(timeout=30) is not None  # it was stopped, not adopted
        assert second.retired_pid == orphan.pid
        assert second.running
        again = BlobServiceClient.from_connection_string(second.connection_string)
        assert again.get_blob_client("kept", "b.txt").download_blob().readall() == (
            b"before the crash"
        )
        now = azurite_pid.read_record(location)
        assert now is not None and second._process is not None
        assert now.pid == second._process.pid and now.ports == record.ports
    finally:
        second.stop()
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
    assert azurite_pid.read_record(location) is None  # a clean stop removes the pid file


def test_an_earlier_azurite_whose_owner_still_runs_is_left_alone(tmp_path: Path) -> None:
    location = tmp_path / "azurite"
    location.mkdir()
    first = Azurite(location)
    # Its recorded owner is this test process, which is alive: a concurrent session.
    running = subprocess.Popen(first.command(), stdout=subprocess.DEVNULL, start_new_session=True)
    ep = first.endpoints
    # Until it has exec'd, /proc shows the forking Python, not Azurite, and the record would
    # look stale: wait for it to listen (under load this took long enough to fail a CI run).
    deadline = time.monotonic() + 30
    while not _port_open(ep.host, ep.blob_port):
        assert running.poll() is None and time.monotonic() < deadline, "Azurite did not start"
        time.sleep(0.05)
    azurite_pid.write_record(location, azurite_pid.AzuriteRecord(
        pid=running.pid, owner=os.getpid(), host=ep.host, blob_port=ep.blob_port,
        queue_port=ep.queue_port, table_port=ep.table_port, location=str(location),
        dies_with_owner=True,
    ))
    try:
        with pytest.raises(AzuriteError, match=f"pid {running.pid}"):
            Azurite(location).start()
        assert running.poll() is None
    finally:
        running.terminate()
        running.wait(timeout=30)


def test_a_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    location = tmp_path / "azurite"
    location.mkdir()
    azurite_pid.write_record(location, azurite_pid.AzuriteRecord(
        pid=_dead_pid(), owner=_dead_pid(), host="127.0.0.1", blob_port=1, queue_port=2,
        table_port=3, location=str(location), dies_with_owner=True,
    ))
    emulator = Azurite(location)
    try:
        emulator.start()
        assert emulator.retired_pid is None and emulator.running
    finally:
        emulator.stop()


def test_a_devhost_started_by_tests_dies_with_the_test_process(tmp_path: Path) -> None:
    code = (
        "import time\n"
        "from pathlib import Path\n"
        "from tests.e2e.pipeline_harness import DevHostProcess\n"
        f"h = DevHostProcess('', 'http://127.0.0.1:9', Path({str(tmp_path / 'd.log')!r}),\n"
        f"                   app=Path({str(APPS / 'host_http.py')!r})).start()\n"
        "print('pid', h._proc.pid, flush=True); time.sleep(300)\n"
    )
    parent, devhost = _child(code)
    assert azurite_pid.alive(devhost)
    parent.kill()
    parent.wait()
    assert wait_for("devhost to exit with its parent", lambda: _gone(devhost), timeout=30)


def _serves(blobs: BlobServiceClient) -> bool:
    try:
        blobs.get_service_properties()
    except Exception:
        return False
    return True
