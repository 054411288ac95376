"""The real HTTP front door: `python -m devhost` on a private Azurite, hostile requests.

Body cap: the Functions host (and devhost) reads a request body before the app
sees it, up to FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (100 MB by default). So the
deployment sets that host setting close to MAX_WEBHOOK_BYTES, and devhost refuses
a declared Content-Length over it before reading a byte (chunked bodies stop at
the limit). Proven here by the devhost process's peak RSS (VmHWM) while 50 MB
arrive. Between the app's cap and the host's limit, the app answers its own 413.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import select
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.names import RAW_CONTAINER, SETTING_MAX_WEBHOOK_BYTES
from devhost.azurite import Azurite
from devhost.config import BODY_LIMIT_SETTING
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, wait_for
from tests.support import webhooks

pytestmark = pytest.mark.e2e

HOST_LIMIT = 1024 * 1024  # FUNCTIONS_REQUEST_BODY_SIZE_LIMIT
APP_CAP = 512 * 1024  # MAX_WEBHOOK_BYTES, below it here so both layers can be seen
HUGE = 50 * 1024 * 1024
PIECE = b"x" * 65536
MAX_RSS_GROWTH_KB = 25 * 1024  # reading 50 MB whole would grow the peak by 50 MB or more


@pytest.fixture(scope="module")
def front_door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevHostProcess, str]]:
    folder: Path = tmp_path_factory.mktemp("front_door")
    azurite = Azurite(folder / "azurite")
    azurite.start()
    try:
        ensure_archive_resources(azurite.connection_string)
        with pytest.MonkeyPatch.context() as env:
            env.setenv(BODY_LIMIT_SETTING, str(HOST_LIMIT))
            env.setenv(SETTING_MAX_WEBHOOK_BYTES, str(APP_CAP))
            host = DevHostProcess(azurite.connection_string, "http://127.0.0.1:9",
                                  folder / "devhost.log").start()
        try:
            yield host, azurite.connection_string
        finally:
            host.stop()
    finally:
        azurite.stop()


def peak_rss_kb(host: DevHostProcess) -> int:
    assert host._proc is not None
    for line in Path(f"/proc/{host._proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def stream_post(url: str, total: int, *, chunked: bool) -> int:
    """POST `total` bytes in 64 KiB pieces, stopping as soon as the server answers."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (f"POST /api/webhooks/meta HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"X-Hub-Signature-256: sha256={'0' * 64}\r\n{framing}\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(b"10000\r\n" + PIECE + b"\r\n" if chunked else PIECE)
                sent += len(PIECE)
            if sent >= total and chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close once it has answered
        answer = b""
        while b"\r\n" not in answer and (data := sock.recv(4096)):
            answer += data
    return int(answer.split(b" ", 2)[1])


def post(host: DevHostProcess, body: bytes) -> tuple[int, bytes]:
    parts = urlsplit(host.url)
    assert parts.hostname and parts.port
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", "/api/webhooks/meta", body, webhooks.signed_headers(body))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_50mb_body_gets_413_without_being_buffered(
    front_door: tuple[DevHostProcess, str], chunked: bool
) -> None:
    host, _ = front_door
    before = peak_rss_kb(host)
    assert stream_post(host.url, HUGE, chunked=chunked) == 413
    assert peak_rss_kb(host) - before < MAX_RSS_GROWTH_KB


def test_body_between_the_app_cap_and_the_host_limit_gets_the_apps_413(
    front_door: tuple[DevHostProcess, str],
) -> None:
    host, conn = front_door
    body = b'{"pad":"' + b"x" * (APP_CAP + 1000) + b'"}'
    status, answer = post(host, body)
    assert status == 413 and str(APP_CAP) in json.loads(answer)["error"]
    digest = hashlib.sha256(body).hexdigest()
    raw = BlobServiceClient.from_connection_string(conn).get_container_client(RAW_CONTAINER)
    assert not [b.name for b in raw.list_blobs() if digest in b.name]


def test_declared_oversize_is_answered_before_any_body_arrives(
    front_door: tuple[DevHostProcess, str],
) -> None:
    host, _ = front_door
    parts = urlsplit(host.url)
    assert parts.hostname and parts.port
    head = (f"POST /api/webhooks/meta HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Length: {HUGE}\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(head.encode())  # and not one byte of body: a reader would wait forever
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_duplicate_signature_headers_are_refused(front_door: tuple[DevHostProcess, str]) -> None:
    host, _ = front_door
    body = webhooks.body_of(webhooks.text_message(f"wamid.{uuid.uuid4().hex}", "1555", 1764158400))
    valid = webhooks.signed_headers(body)["X-Hub-Signature-256"]
    parts = urlsplit(host.url)
    assert parts.hostname and parts.port
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", "/api/webhooks/meta")
        connection.putheader("X-Hub-Signature-256", valid)
        connection.putheader("X-Hub-Signature-256", "sha256=" + "1" * 64)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        status = connection.getresponse().status
    finally:
        connection.close()
    assert status == 401  # two signatures are ambiguous: refused, never "either one"


def test_hostile_webhooks_over_http_are_archived_or_flagged(
    front_door: tuple[DevHostProcess, str],
) -> None:
    host, conn = front_door
    run = uuid.uuid4().hex
    hostile_id = f"wamid.{run}/../\\%2F+=\x00\x7f#?"
    sender = f"+1/{run[:6]}=="
    text = webhooks.body_of(webhooks.text_message(hostile_id, sender, 1764158400))
    unknown = webhooks.body_of(webhooks.envelope({"messages": [
        {"from": sender, "id": f"wamid.u{run}", "timestamp": "1764158401", "type": "hologram",
         "hologram": {"layers": 7}}]}))
    truncated = text[: len(text) // 2]
    for body in (text, unknown, truncated):
        assert post(host, body)[0] == 200

    reader = IndexReader(TableServiceClient.from_connection_string(conn))
    rows = wait_for("hostile id indexed", lambda: reader.by_message(hostile_id))
    assert [r["message_id"] for r in rows] == [hostile_id]
    unknown_rows = wait_for("unknown type indexed", lambda: reader.by_message(f"wamid.u{run}"))
    assert unknown_rows[0]["event"] == "unknown" and unknown_rows[0]["type"] == "unknown:hologram"
    timeline = reader.by_participant(sender).rows
    assert sorted(r["message_id"] for r in timeline) == sorted([hostile_id, f"wamid.u{run}"])
    flagged = wait_for("truncated body flagged", lambda: reader.failures("unparseable").rows)
    (row,) = flagged
    detail = json.loads(row["detail"])
    assert detail["sha256"] == hashlib.sha256(truncated).hexdigest() and detail["events"] == 0
    raw = BlobServiceClient.from_connection_string(conn).get_container_client(RAW_CONTAINER)
    assert raw.download_blob(detail["raw_path"]).readall() == truncated
