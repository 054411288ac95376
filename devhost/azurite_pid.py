"""The pid file an Azurite started by devhost leaves in its data folder, and what a
later start does with it.

An earlier Azurite still running on the same data folder is stopped and a fresh
one started, never adopted: only a process we started ourselves dies with us
(devhost/lifeline.py), is the one we can wait for, and logs to our file. Two
Azurites must never share a data folder, so the ports do not matter for this.
An earlier Azurite whose own `wa-archive dev` still runs is left alone: start
refuses instead of pulling storage from under a live session.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devhost.ports import PROC

PID_FILE = "azurite.pid.json"


@dataclass(frozen=True)
class AzuriteRecord:
    pid: int
    owner: int  # the process that started it (wa-archive dev, a test run)
    host: str
    blob_port: int
    queue_port: int
    table_port: int
    location: str  # Azurite's data folder
    dies_with_owner: bool  # armed with a parent-death signal

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.blob_port, self.queue_port, self.table_port


def write_record(folder: Path, record: AzuriteRecord) -> None:
    tmp = folder / (PID_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / PID_FILE)


def read_record(folder: Path) -> AzuriteRecord | None:
    """The recorded Azurite, or None when there is no file or it cannot be read."""
    try:
        raw = json.loads((folder / PID_FILE).read_text(encoding="utf-8"))
        return AzuriteRecord(**raw)
    except (OSError, ValueError, TypeError):
        return None


def remove_record(folder: Path, pid: int) -> None:
    """Remove the file if it still describes `pid` (a newer start may have replaced it)."""
    record = read_record(folder)
    if record is not None and record.pid == pid:
        (folder / PID_FILE).unlink(missing_ok=True)


def _stat_fields(pid: int, proc: Path) -> list[str] | None:
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may contain spaces: split after it.
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int, proc: Path = PROC) -> bool:
    fields = _stat_fields(pid, proc)
    return fields is not None and fields[0] not in ("Z", "X")


def parent_of(pid: int, proc: Path = PROC) -> int | None:
    fields = _stat_fields(pid, proc)
    return int(fields[1]) if fields is not None else None


def serves_location(pid: int, location: Path, proc: Path = PROC) -> bool:
    """Is `pid` an Azurite (node azurite ... --location <location>)? Guards against pid reuse."""
    try:
        args = (proc / str(pid) / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    is_azurite = any("azurite" in Path(arg).name for arg in args[:3])
    return is_azurite and any(
        a == "--location" and b == str(location) for a, b in itertools.pairwise(args)
    )


class EarlierAzuriteBusy(RuntimeError):
    """An earlier Azurite on this data folder still belongs to a running process."""


def earlier_azurite(location: Path) -> AzuriteRecord | None:
    """The Azurite recorded in `location` if it still runs there; stale records are ignored."""
    record = read_record(location)
    if record is None or not alive(record.pid) or not serves_location(record.pid, location):
        return None
    return record


def retire(record: AzuriteRecord, timeout: float = 10.0) -> None:
    """Stop an orphaned earlier Azurite cleanly (SIGTERM lets it save its metadata)."""
    if parent_of(record.pid) == record.owner:
        raise EarlierAzuriteBusy(
            f"Azurite (pid {record.pid}) on this data folder still belongs to a running "
            f"process (pid {record.owner}), probably another `wa-archive dev`; stop that first"
        )
    # One that dies with its owner already got SIGTERM from the kernel and is saving;
    # a second SIGTERM would hit node's default handler and cut the save short.
    if not (record.dies_with_owner and parent_of(record.pid) != record.owner):
        _signal(record.pid, signal.SIGTERM)
    if _wait_gone(record.pid, timeout):
        return
    _signal(record.pid, signal.SIGKILL)
    _wait_gone(record.pid, timeout)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        # Started in a session of its own: the group is Azurite and anything it forked.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return not alive(pid)
