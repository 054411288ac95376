"""Media fetch on real Azurite against a local stand-in for the Graph API."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient

from archive.events import CanonicalEvent, MediaRef
from archive.layout import media_blob_name
from archive.names import MEDIA_CONTAINER, SETTING_MAX_MEDIA_BYTES
from orchestrations.steps import fetch_media_item
from storage import settings
from storage.media import MediaFetchError
from tests.support.media_server import TOKEN, MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite


@pytest.fixture
def media(
    monkeypatch: pytest.MonkeyPatch, azurite_conn: str, media_server: MediaServer
) -> BlobServiceClient:
    use_archive(monkeypatch, azurite_conn, graph_url=media_server.base_url)
    return BlobServiceClient.from_connection_string(azurite_conn)


def image_event(media_id: str, provider_sha256: str | None = None) -> CanonicalEvent:
    return CanonicalEvent(
        provider="meta", event="message", direction="inbound",
        message_id=f"wamid.{uuid.uuid4().hex}/+=", sender="15551234567",
        recipient="15550783881", business_id="106540352242922", customer_id="15551234567",
        timestamp=datetime(2026, 11, 26, 11, 59, tzinfo=UTC), type="image",
        content={"caption": "c"},
        media=(MediaRef(media_id=media_id, mime_type="image/jpeg",
                        provider_sha256=provider_sha256, filename=None, kind="image"),),
    )


def fetch(event: CanonicalEvent) -> dict[str, object]:
    return fetch_media_item({"event": event.to_dict(), "media_index": 0})


def test_media_streams_to_blob_with_matching_sha256(
    media: BlobServiceClient, media_server: MediaServer
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)  # more than one 4 MiB block
    media_id = f"m/{uuid.uuid4().hex}+="
    item = media_server.add(media_id, MediaItem(data=data))
    event = image_event(media_id, provider_sha256=item.sha256)

    outcome = fetch(event)

    expected_path = media_blob_name(event, event.media[0], "image/jpeg")
    assert outcome["state"] == "stored"
    assert outcome["blob_path"] == expected_path and expected_path.endswith(".jpg")
    assert outcome["sha256"] == hashlib.sha256(data).hexdigest()
    assert outcome["size"] == len(data)
    blob = media.get_container_client(MEDIA_CONTAINER).get_blob_client(expected_path)
    assert blob.get_blob_properties().content_settings.content_type == "image/jpeg"
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == item.sha256

    # A repeated attempt (e.g. after a crash) finds the stored blob and downloads nothing.
    assert fetch(event)["sha256"] == item.sha256
    assert item.downloads == 1


def test_every_attempt_resolves_the_url_again(
    media: BlobServiceClient, media_server: MediaServer
) -> None:
    media_id = f"m-{uuid.uuid4().hex}"
    item = media_server.add(media_id, MediaItem(data=b"jpeg-bytes", fail_first=1))
    event = image_event(media_id)
    with pytest.raises(MediaFetchError, match="HTTP 404"):
        fetch(event)
    assert fetch(event)["state"] == "stored"
    assert item.lookups == 2


@pytest.mark.parametrize("declared_by", ["lookup", "content-length", "nothing"])
def test_size_cap_refuses_large_media(
    media: BlobServiceClient,
    media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch,
    declared_by: str,
) -> None:
    monkeypatch.setenv(SETTING_MAX_MEDIA_BYTES, "100000")
    media_id = f"m-{uuid.uuid4().hex}"
    media_server.add(
        media_id, MediaItem(data=os.urandom(300_000), chunked=declared_by == "nothing")
    )
    event = image_event(media_id)
    with pytest.raises(MediaFetchError, match="cap"):
        if declared_by == "lookup":
            fetch(event)
        else:
            # The lookup's file_size is ignored here, so the download itself must be checked.
            _fetch_without_declared_size(event, media_server, media_id)
    path = media_blob_name(event, event.media[0], "image/jpeg")
    assert not media.get_container_client(MEDIA_CONTAINER).get_blob_client(path).exists()


def _fetch_without_declared_size(
    event: CanonicalEvent, media_server: MediaServer, media_id: str
) -> None:
    from storage import media as media_module
    from storage.clients import blob_service
    from storage.media_http import Deadline

    allowlist = settings.media_host_allowlist()
    deadline = Deadline(60)
    info = media_module.resolve(
        media_server.base_url, media_id, TOKEN, allowlist=allowlist, deadline=deadline
    )
    info = media_module.MediaInfo(info.url, info.mime_type, None, None)
    media_module.stream_to_blob(
        blob_service().get_container_client(MEDIA_CONTAINER),
        media_blob_name(event, event.media[0], "image/jpeg"),
        info,
        TOKEN,
        max_bytes=100_000,
        content_type="image/jpeg",
        allowlist=allowlist,
        deadline=deadline,
    )


def test_sha256_mismatch_fails_the_attempt(
    media: BlobServiceClient, media_server: MediaServer
) -> None:
    media_id = f"m-{uuid.uuid4().hex}"
    media_server.add(media_id, MediaItem(data=b"real bytes", announce_sha256="0" * 64))
    event = image_event(media_id)
    with pytest.raises(MediaFetchError, match="sha256 mismatch"):
        fetch(event)
    path = media_blob_name(event, event.media[0], "image/jpeg")
    assert not media.get_container_client(MEDIA_CONTAINER).get_blob_client(path).exists()


def test_unknown_media_id_fails_with_status(
    media: BlobServiceClient, media_server: MediaServer
) -> None:
    with pytest.raises(MediaFetchError, match="404"):
        fetch(image_event(f"missing-{uuid.uuid4().hex}"))
    assert media_server.unauthorized == 0
