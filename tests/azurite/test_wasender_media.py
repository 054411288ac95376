"""WASender media fetch on real Azurite against a local stand-in for the WASender API."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from archive.events import CanonicalEvent
from archive.layout import media_blob_name
from archive.media_hosts import HostAllowlist, parse_allowlist
from archive.names import (
    MEDIA_CONTAINER,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_WASENDER_API_KEY,
    SETTING_WASENDER_API_URL,
)
from archive.wasender.parser import parse_wasender
from orchestrations.steps import fetch_media_item
from storage.media import StoredMedia
from storage.media_http import MediaFetchError
from storage.media_wasender import fetch_wasender_media
from tests.support.pipeline_env import use_archive
from tests.support.wasender_api import API_KEY, FIXTURE_MEDIA, WaMedia, WasenderApi

pytestmark = pytest.mark.azurite

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wasender"
MEDIA_FIXTURES = ("image_caption", "video", "document", "voice_note", "sticker")
LOOPBACK = parse_allowlist("127.0.0.1")


@pytest.fixture
def api() -> Iterator[WasenderApi]:
    server = WasenderApi().start()
    server.add_fixture_media()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def container(
    monkeypatch: pytest.MonkeyPatch, azurite_conn: str, unique_name: str, api: WasenderApi
) -> Iterator[ContainerClient]:
    """A container of its own (the fixtures' blob names repeat across tests)."""
    use_archive(monkeypatch, azurite_conn)
    monkeypatch.setenv(SETTING_WASENDER_API_URL, api.base_url)
    monkeypatch.setenv(SETTING_WASENDER_API_KEY, API_KEY)
    service = BlobServiceClient.from_connection_string(azurite_conn)
    client = service.create_container(unique_name)
    try:
        yield client
    finally:
        client.delete_container()


def fixture_doc(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_bytes())
    return loaded


def event_of(doc: dict[str, Any]) -> CanonicalEvent:
    result = parse_wasender(json.dumps(doc).encode(), received_at=datetime.now(UTC))
    (event,) = result.events
    return event


def fetch(container: ContainerClient, event: CanonicalEvent, *, max_bytes: int = 10**8,
          allowlist: HostAllowlist = LOOPBACK) -> StoredMedia:
    ref = event.media[0]
    return fetch_wasender_media(
        container, event, ref, blob_name_for=lambda mime: media_blob_name(event, ref, mime),
        max_bytes=max_bytes, allowlist=allowlist,
    )


def no_blobs(container: ContainerClient) -> bool:
    return list(container.list_blobs()) == []


def short_reason(exc: pytest.ExceptionInfo[MediaFetchError]) -> str:
    """Reasons reach Durable history and failure rows: never the key or a URL."""
    reason = str(exc.value)
    assert API_KEY not in reason and "http" not in reason and "127.0.0.1" not in reason
    return reason


@pytest.mark.parametrize("name", MEDIA_FIXTURES)
def test_fixture_media_is_stored_with_its_sha256(
    container: ContainerClient, api: WasenderApi, name: str
) -> None:
    event = event_of(fixture_doc(name))
    data, mime = FIXTURE_MEDIA[event.message_id]

    stored = fetch(container, event)

    assert stored.blob_path == media_blob_name(event, event.media[0], mime, len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    blob = container.get_blob_client(stored.blob_path)
    props = blob.get_blob_properties()
    assert props.metadata["sha256"] == stored.sha256
    assert props.content_settings.content_type == mime
    assert props.content_settings.content_disposition == "attachment"
    assert blob.download_blob().readall() == data
    # The key went to decrypt-media only; the public URL was fetched without it.
    assert [(m, auth) for m, _, auth in api.requests] == [
        ("POST", f"Bearer {API_KEY}"), ("GET", None)]
    # A repeated attempt (e.g. after a crash) finds the blob and asks WASender nothing.
    assert fetch(container, event) == StoredMedia(stored.blob_path, stored.sha256,
                                                  stored.size, mime)
    assert api.decrypts == 1 and api.downloads == 1


def test_every_retry_decrypts_again(container: ContainerClient, api: WasenderApi) -> None:
    event = event_of(fixture_doc("image_caption"))
    api.fail_decrypts = 2
    for _ in range(2):
        with pytest.raises(MediaFetchError) as failed:
            fetch(container, event)
        assert short_reason(failed) == "decrypt-media failed: HTTP 500"
    assert no_blobs(container)

    fetch(container, event)

    assert api.decrypts == 3 and api.downloads == 1


def test_an_expired_public_url_is_resolved_again(
    container: ContainerClient, api: WasenderApi
) -> None:
    event = event_of(fixture_doc("voice_note"))
    api.expire_downloads = 1
    with pytest.raises(MediaFetchError) as expired:
        fetch(container, event)
    assert short_reason(expired) == "media download failed: HTTP 404"

    stored = fetch(container, event)

    assert stored.size == len(FIXTURE_MEDIA[event.message_id][0])
    assert api.decrypts == 2 and len(set(api.public_urls)) == 2  # a fresh URL each attempt


def test_oversize_declared_is_refused_before_any_request(
    container: ContainerClient, api: WasenderApi
) -> None:
    event = event_of(fixture_doc("video"))
    size = len(FIXTURE_MEDIA[event.message_id][0])
    with pytest.raises(MediaFetchError) as refused:
        fetch(container, event, max_bytes=size - 1)
    assert short_reason(refused) == f"media is {size} bytes, over the {size - 1} cap"
    assert api.requests == [] and no_blobs(container)


def test_oversize_served_is_refused_whatever_was_declared(
    container: ContainerClient, api: WasenderApi
) -> None:
    doc = fixture_doc("document")
    media = doc["data"]["messages"]["message"]["documentMessage"]
    media["fileLength"] = "100"  # the message understates its size
    event = event_of(doc)
    size = len(FIXTURE_MEDIA[event.message_id][0])
    with pytest.raises(MediaFetchError) as refused:
        fetch(container, event, max_bytes=1000)
    assert short_reason(refused) == (
        f"media download failed: media is {size} bytes, over the 1000 cap")
    assert api.downloads == 1 and no_blobs(container)


def test_public_url_host_not_on_the_allowlist_is_refused(
    container: ContainerClient, api: WasenderApi
) -> None:
    api.public_host = "localhost"  # loopback, but not listed
    event = event_of(fixture_doc("sticker"))
    with pytest.raises(MediaFetchError) as refused:
        fetch(container, event)
    assert short_reason(refused) == (
        "media download failed: host is not on the media host allowlist")
    assert api.decrypts == 1 and api.downloads == 0 and no_blobs(container)


def test_api_host_not_on_the_allowlist_never_receives_the_key(
    container: ContainerClient, api: WasenderApi
) -> None:
    event = event_of(fixture_doc("image_caption"))
    with pytest.raises(MediaFetchError) as refused:
        fetch(container, event, allowlist=parse_allowlist("www.wasenderapi.com"))
    assert short_reason(refused) == (
        "decrypt-media refused: host is not on the media host allowlist")
    assert api.requests == []


def test_a_wrong_api_key_is_refused_by_the_api(
    container: ContainerClient, api: WasenderApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTING_WASENDER_API_KEY, "a-retired-session-api-key-000")
    event = event_of(fixture_doc("image_caption"))
    with pytest.raises(MediaFetchError) as refused:
        fetch(container, event)
    assert short_reason(refused) == "decrypt-media failed: HTTP 401"
    assert api.unauthorized == 1 and api.downloads == 0


def test_sha256_mismatch_is_refused(container: ContainerClient, api: WasenderApi) -> None:
    doc = fixture_doc("image_caption")
    media = doc["data"]["messages"]["message"]["imageMessage"]
    media["fileSha256"] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # sha256 of b""
    event = event_of(doc)
    with pytest.raises(MediaFetchError) as refused:
        fetch(container, event)
    assert short_reason(refused) == "sha256 mismatch between provider and downloaded bytes"
    assert no_blobs(container)


def test_a_ref_of_another_event_fetches_nothing(
    container: ContainerClient, api: WasenderApi
) -> None:
    image, video = event_of(fixture_doc("image_caption")), event_of(fixture_doc("video"))
    with pytest.raises(MediaFetchError) as refused:
        fetch_wasender_media(container, image, video.media[0], blob_name_for=lambda _: "x",
                             max_bytes=10**8, allowlist=LOOPBACK)
    assert short_reason(refused) == "media video: the event's fragment holds no such media item"
    assert api.requests == []


def test_the_activity_dispatches_wasender_media_to_this_fetcher(
    azurite_conn: str, container: ContainerClient, api: WasenderApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SETTING_MEDIA_HOST_ALLOWLIST, "127.0.0.1")
    doc = fixture_doc("voice_note")
    message_id = f"3EB0{uuid.uuid4().hex[:16].upper()}"
    doc["data"]["messages"]["key"]["id"] = message_id
    data, mime = FIXTURE_MEDIA["3EB0D4E5F60718293041"]
    api.add(message_id, WaMedia(data, mime))
    event = event_of(doc)

    outcome = fetch_media_item({"event": event.to_dict(), "media_index": 0})

    assert outcome["state"] == "stored" and outcome["mime_type"] == mime
    # A voice note this short sits under `small/` (archive.layout.SMALL_MEDIA_PREFIX).
    assert outcome["blob_path"] == media_blob_name(event, event.media[0], mime, len(data))
    assert outcome["blob_path"].startswith("small/year=")
    assert outcome["blob_path"].endswith(".ogg")
    media = BlobServiceClient.from_connection_string(azurite_conn).get_container_client(
        MEDIA_CONTAINER)
    blob = media.get_blob_client(outcome["blob_path"])
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == outcome["sha256"]
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client(outcome["blob_path"]).get_blob_properties()
