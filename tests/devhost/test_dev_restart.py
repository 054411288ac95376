"""Issue 18: `wa-archive dev` after a kill -9 of its whole process group comes up by
itself, and the work in flight is archived exactly once; a foreign port holder is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from archive.names import INGEST_QUEUE, MEDIA_CONTAINER, RECORDS_CONTAINER
from devhost import azurite_pid
from devhost.azurite import free_port
from storage.index_reader import IndexReader
from tests.devhost.test_dev_command import READY, REPO, DevProcess
from tests.e2e.pipeline_harness import http, wait_for
from tests.support import webhooks
from tests.support.media_server import TOKEN, MediaItem, MediaServer

pytestmark = pytest.mark.e2e

CONSOLE_SCRIPT = Path(sys.executable).parent / "wa-archive"
CUSTOMER = "15551234567"
T0 = 1764158400


def console_dev(args: list[str], media: MediaServer) -> DevProcess:
    """`.venv/bin/wa-archive dev` in a process group of its own."""
    return DevProcess([str(CONSOLE_SCRIPT), "dev", *args], env=_env(media), own_group=True)


@pytest.fixture
def failing_media() -> Iterator[MediaServer]:
    server = MediaServer()
    server.stall_seconds = 10.0  # outlasts the kill; shorter than the fetcher's 30 s
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _env(media: MediaServer) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "WHATSAPP_APP_SECRET": webhooks.APP_SECRET,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_GRAPH_URL": media.base_url,
        "MEDIA_HOST_ALLOWLIST": "127.0.0.1",
    }


def _send(url: str, doc: dict[str, object]) -> int:
    body = webhooks.body_of(doc)
    status, _ = http("POST", f"{url}/api/webhooks/meta", body, webhooks.signed_headers(body))
    return status


def test_dev_comes_back_after_kill_9_and_archives_in_flight_work_once(
    tmp_path: Path, failing_media: MediaServer
) -> None:
    data_dir = tmp_path / "wa-data"
    ports = f"{free_port()},{free_port()},{free_port()}"
    args = ["--data-dir", str(data_dir), "--port", "0", "--rpc-port", "0",
            "--azurite-ports", ports]
    text_id, image_id = "wamid.restart-text", "wamid.restart-image"
    # The first lookup hangs until after the kill, every later one is 404: the media
    # activity is in flight at the kill and its retries run out after the restart.
    item = failing_media.add("media-gone", MediaItem(b"x", script=("stall",), always_404=True))

    first = console_dev(args, failing_media)
    try:
        url = first.wait_ready()
        conn = json.loads((data_dir / "settings.json").read_text())["ARCHIVE_STORAGE"]
        reader = IndexReader(TableServiceClient.from_connection_string(conn))
        assert _send(url, webhooks.text_message(text_id, CUSTOMER, T0)) == 200
        assert _send(url, webhooks.image_message(image_id, CUSTOMER, T0 + 1, "media-gone")) == 200
        wait_for("the media fetch in flight", lambda: item.lookups >= 1)
        # Only the orchestration is in flight: the queue message is done with (a killed
        # queue lease would otherwise hide it for devhost's 10 minutes).
        queue = QueueClient.from_connection_string(conn, INGEST_QUEUE)
        wait_for("an empty ingest queue",
                 lambda: queue.get_queue_properties().approximate_message_count == 0)
        record = azurite_pid.read_record(data_dir / "azurite")
        assert record is not None and azurite_pid.alive(record.pid)
        assert not reader.by_message(image_id)  # its record waits for the media
    finally:
        first.kill_group()
    # No orphan: Azurite follows its killed parent by itself.
    wait_for("the first Azurite to exit", lambda: not azurite_pid.alive(record.pid), timeout=30)

    second = console_dev(args, failing_media)
    try:
        second.wait_ready()
        image_rows = wait_for("the image record", lambda: reader.by_message(image_id),
                              timeout=180)
        records = BlobServiceClient.from_connection_string(conn).get_container_client(
            RECORDS_CONTAINER
        )
        names = sorted(b.name for b in records.list_blobs())
        assert len(names) == 2, names  # one per event, no duplicate, no conflict copy
        assert len(reader.by_message(text_id)) == 1 and len(image_rows) == 1
        image_record = json.loads(
            records.get_blob_client(image_rows[0]["record_path"]).download_blob().readall()
        )
        (media,) = image_record["media"]
        assert media["state"] == "unavailable" and media["media_id"] == "media-gone"
        gaps = wait_for("the media gap", lambda: reader.failures("media_unavailable").rows)
        assert len(gaps) == 1
        media_blobs = BlobServiceClient.from_connection_string(conn).get_container_client(
            MEDIA_CONTAINER
        )
        assert list(media_blobs.list_blobs()) == []
        assert item.lookups >= 2  # the attempt cut short by the kill ran again
    finally:
        assert second.interrupt() == 0


def test_a_foreign_port_holder_is_named_with_the_way_out(tmp_path: Path) -> None:
    blob, queue, table = free_port(), free_port(), free_port()
    code = (
        "import socket, time\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {blob})); s.listen()\n"
        "print('listening', flush=True); time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "listening\n"
        dev = subprocess.run(
            [str(CONSOLE_SCRIPT), "dev", "--data-dir", str(tmp_path / "d"),
             "--azurite-ports", f"{blob},{queue},{table}"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert dev.returncode == 2
    assert f"port {blob} on 127.0.0.1 is already in use by pid {holder.pid}" in dev.stderr
    assert "socket" in dev.stderr  # the holder's command line
    assert "--azurite-ports" in dev.stderr
    assert READY not in dev.stdout
