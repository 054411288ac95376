"""Media that lies or overflows, through fetch_media + store_record on Azurite.

Chosen behaviour (docs/hostile.md): the file extension and the blob's Content-Type
come from what Meta declared (the Graph lookup's mime_type, else the webhook's),
never from the download's Content-Type header; the bytes are archived verbatim and
never sniffed. The record keeps both declarations (`provider_mime_type` from the
webhook, `mime_type` from the lookup) beside our sha256, so an auditor sees any
disagreement. Over MAX_MEDIA_BYTES: nothing stored, the record says `unavailable`
with the reason, and IndexFailures gets a `media_unavailable` row.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from archive.layout import SMALL_MEDIA_PREFIX, partition_name
from archive.names import MEDIA_CONTAINER, SETTING_GRAPH_URL, SETTING_MAX_MEDIA_BYTES
from storage.clients import table_service
from storage.index_reader import IndexReader
from tests.hostile.flow import archive_signed, read_record
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer

pytestmark = pytest.mark.azurite

T0 = 1764158400
JPEG_MAGIC = b"\xff\xd8\xff\xe0"


class LyingMediaServer(MediaServer):
    """The Graph stand-in, whose CDN answers with a Content-Type of its own choosing."""

    def __init__(self) -> None:
        super().__init__()
        self.download_types: dict[str, str] = {}

    def _download(self, h: BaseHTTPRequestHandler, media_id: str) -> None:
        item = self.items.get(media_id)
        if item is None or media_id not in self.download_types:
            super()._download(h, media_id)
            return
        item.downloads += 1
        self._send(h, 200, item.data, self.download_types[media_id])


@pytest.fixture
def lying(conn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LyingMediaServer]:
    server = LyingMediaServer()
    server.start()
    monkeypatch.setenv(SETTING_GRAPH_URL, server.base_url)
    try:
        yield server
    finally:
        server.stop()


def media_blobs(conn: str, folder: str) -> dict[str, Any]:
    container = BlobServiceClient.from_connection_string(conn).get_container_client(
        MEDIA_CONTAINER
    )
    return {b.name: b for b in container.list_blobs(name_starts_with=folder, include=["metadata"])}


def image_webhook(media_id: str, mime: str = "image/jpeg") -> tuple[str, bytes]:
    wamid = f"wamid.{uuid.uuid4().hex}"
    doc = webhooks.image_message(wamid, "15551234567", T0, media_id)
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["mime_type"] = mime
    return wamid, json.dumps(doc).encode()


def archive_image(conn: str, media_id: str, webhook_mime: str = "image/jpeg"
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    _, body = image_webhook(media_id, webhook_mime)
    (result,) = archive_signed(body, fetch_media=True).stored
    record = read_record(conn, result["path"])
    (entry,) = record["media"]
    return record, entry


def record_path_of(record: dict[str, Any]) -> str:
    path: str = IndexReader(table_service()).by_message(record["message_id"])[0]["record_path"]
    return path


def folder_of(record_path: str) -> str:
    return record_path.rsplit("/", 1)[0] + "/"


def test_media_over_the_cap_is_recorded_unavailable_and_flagged(
    conn: str, lying: LyingMediaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTING_MAX_MEDIA_BYTES, "100000")
    media_id = f"big-{uuid.uuid4().hex}"
    lying.add(media_id, MediaItem(data=os.urandom(300_000)))
    record, entry = archive_image(conn, media_id)

    assert entry["state"] == "unavailable" and "cap" in entry["reason"]
    assert entry["sha256"] is None and entry["blob_path"] is None
    # Nothing stored in this message's media folder (other tests share the day folder).
    folder = folder_of(record_path_of(record))
    assert media_blobs(conn, folder) == {} and media_blobs(conn, SMALL_MEDIA_PREFIX + folder) == {}
    assert lying.items[media_id].downloads == 0  # refused on the lookup's file_size already
    failures = IndexReader(table_service()).failures("media_unavailable", page_size=1000).rows
    mine = [r for r in failures if r["ref"].endswith(f"#{media_id}")]
    assert len(mine) == 1 and "cap" in mine[0]["reason"]
    assert json.loads(mine[0]["detail"])["message_id"] == record["message_id"]


def test_download_content_type_is_not_trusted(conn: str, lying: LyingMediaServer) -> None:
    media_id = f"liar-{uuid.uuid4().hex}"
    html = b"<html><script>alert(1)</script></html>"  # not a JPEG, whatever anyone says
    lying.add(media_id, MediaItem(data=html, mime_type="image/jpeg"))
    lying.download_types[media_id] = "text/html; charset=utf-8"
    _, entry = archive_image(conn, media_id)

    assert entry["state"] == "stored"
    assert entry["blob_path"].endswith(".jpg") and entry["mime_type"] == "image/jpeg"
    assert entry["sha256"] == hashlib.sha256(html).hexdigest() and entry["size"] == len(html)
    blob = media_blobs(conn, folder_of(entry["blob_path"]))[entry["blob_path"]]
    assert blob.content_settings.content_type == "image/jpeg"
    assert blob.metadata["sha256"] == entry["sha256"]  # verbatim bytes, provable by hash


def test_lookup_mime_wins_over_the_webhook_and_both_are_recorded(
    conn: str, lying: LyingMediaServer
) -> None:
    media_id = f"pdf-{uuid.uuid4().hex}"
    lying.add(media_id, MediaItem(data=b"%PDF-1.7 " + os.urandom(64), mime_type="application/pdf"))
    _, entry = archive_image(conn, media_id, webhook_mime="image/jpeg")

    assert entry["state"] == "stored"
    assert entry["provider_mime_type"] == "image/jpeg"  # what the webhook declared
    assert entry["mime_type"] == "application/pdf"  # what the Graph lookup declared
    assert entry["blob_path"].endswith(".pdf")


@pytest.mark.parametrize("declared", ["text/html", "application/x-msdownload"])
def test_unknown_declared_mime_gets_a_neutral_extension(
    conn: str, lying: LyingMediaServer, declared: str
) -> None:
    media_id = f"odd-{uuid.uuid4().hex}"
    lying.add(media_id, MediaItem(data=JPEG_MAGIC + os.urandom(32), mime_type=declared))
    record, entry = archive_image(conn, media_id)

    assert entry["state"] == "stored" and entry["mime_type"] == declared
    assert entry["blob_path"].endswith(f"{media_id}.bin")  # the mime adds no path segment
    assert partition_name(folder_of(entry["blob_path"])) == folder_of(record_path_of(record))
    blob = media_blobs(conn, folder_of(entry["blob_path"]))[entry["blob_path"]]
    # A browser opening the blob URL downloads it rather than rendering it.
    assert blob.content_settings.content_disposition == "attachment"


@pytest.mark.parametrize(
    "declared", ["image/jpeg/../../../x", "*/*", "image/jpeg\r\nx-ms-meta-evil: 1", "jpeg"]
)
def test_malformed_lookup_mime_falls_back_to_the_webhooks_type(
    conn: str, lying: LyingMediaServer, declared: str
) -> None:
    media_id = f"bad-{uuid.uuid4().hex}"
    lying.add(media_id, MediaItem(data=JPEG_MAGIC + os.urandom(32), mime_type=declared))
    record, entry = archive_image(conn, media_id, webhook_mime="image/jpeg")

    assert entry["state"] == "stored" and entry["mime_type"] == "image/jpeg"
    assert entry["blob_path"].endswith(f"{media_id}.jpg")
    assert partition_name(folder_of(entry["blob_path"])) == folder_of(record_path_of(record))
    blob = media_blobs(conn, folder_of(entry["blob_path"]))[entry["blob_path"]]
    assert blob.content_settings.content_type == "image/jpeg"
    assert "evil" not in (blob.metadata or {})


def test_hostile_media_id_stays_inside_its_message_folder(
    conn: str, lying: LyingMediaServer
) -> None:
    media_id = f"../../{uuid.uuid4().hex}/%2e%2e\\x?y#z"
    item = lying.add(media_id, MediaItem(data=JPEG_MAGIC + os.urandom(16)))
    record, entry = archive_image(conn, media_id)

    assert entry["state"] == "stored" and item.lookups == 1, entry["reason"]
    assert partition_name(folder_of(entry["blob_path"])) == folder_of(record_path_of(record))
    assert entry["blob_path"].isascii() and not set("\\?#") & set(entry["blob_path"])
