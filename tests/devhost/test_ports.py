"""Who holds a port: /proc/net/tcp parsing (unit) and a real listener (Linux)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devhost.azurite import free_port
from devhost.ports import PortHolder, listening_sockets, port_holder
from tests.e2e.pipeline_harness import wait_for

TCP_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2710 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1
   1: 0100007F:2710 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1
   2: 00000000:2711 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1
"""


@pytest.mark.unit
def test_only_listening_sockets_on_the_port_count() -> None:
    assert listening_sockets(TCP_TABLE, 10000) == [(4242, 1000)]  # not the ESTABLISHED one
    assert listening_sockets(TCP_TABLE, 10001) == [(77, 0)]
    assert listening_sockets(TCP_TABLE, 10002) == []


@pytest.mark.unit
def test_a_holder_is_described_as_far_as_it_is_known() -> None:
    assert PortHolder(12, 1000, "node azurite").describe() == "pid 12 (node azurite)"
    assert "uid 0" in PortHolder(None, 0, None).describe()


@pytest.mark.devhost
def test_the_process_listening_on_a_port_is_found() -> None:
    port = free_port()
    code = (
        "import socket, sys, time\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n"
        "print('listening', flush=True); time.sleep(120)\n"
    )
    holder_proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder_proc.stdout is not None and holder_proc.stdout.readline() == "listening\n"
        holder = wait_for("holder", lambda: port_holder(port))
        assert holder.pid == holder_proc.pid
        assert holder.command is not None and "socket" in holder.command
    finally:
        holder_proc.kill()
        holder_proc.wait()
