"""Who holds a TCP port: read from /proc/net/tcp{,6} and /proc/<pid>/fd on Linux.

Only used to make a "port in use" error actionable; anything unreadable just
makes the answer vaguer, never an error of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = "0A"
MAX_COMMAND_CHARS = 160


@dataclass(frozen=True)
class PortHolder:
    pid: int | None  # None: the socket is there but its process cannot be inspected
    uid: int | None
    command: str | None

    def describe(self) -> str:
        if self.pid is not None:
            return f"pid {self.pid} ({self.command or 'command unreadable'})"
        if self.uid is not None:
            return f"a process of uid {self.uid} that this user cannot inspect"
        return "a process that cannot be identified"


def listening_sockets(table: str, port: int) -> list[tuple[int, int]]:
    """(inode, uid) of the LISTEN sockets on `port` in a /proc/net/tcp{,6} table."""
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        _, _, port_hex = fields[1].rpartition(":")
        try:
            if int(port_hex, 16) == port:
                found.append((int(fields[9]), int(fields[7])))
        except ValueError:
            continue
    return found


def command_of(pid: int, proc: Path = PROC) -> str | None:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    text = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    if len(text) > MAX_COMMAND_CHARS:
        text = text[: MAX_COMMAND_CHARS - 3] + "..."
    return text or None


def _pid_with_socket(inode: int, proc: Path) -> int | None:
    target = f"socket:[{inode}]"
    try:
        entries = list(proc.iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(entry / "fd")
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                if os.readlink(entry / "fd" / fd) == target:
                    return int(entry.name)
            except OSError:
                continue
    return None


def port_holder(port: int, proc: Path = PROC) -> PortHolder | None:
    """The process listening on `port`, as far as this user can tell; None if unknown."""
    sockets: list[tuple[int, int]] = []
    for name in ("tcp", "tcp6"):
        try:
            sockets += listening_sockets((proc / "net" / name).read_text(), port)
        except OSError:
            continue
    for inode, uid in sockets:
        pid = _pid_with_socket(inode, proc)
        if pid is not None:
            return PortHolder(pid, uid, command_of(pid, proc))
    if sockets:
        return PortHolder(None, sockets[0][1], None)
    return None
