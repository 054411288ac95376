"""ACS media download on real Azurite, through the real SDK, against the local ACS stand-in."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from archive.acs.parser import parse_acs
from archive.events import CanonicalEvent, MediaRef
from archive.layout import media_blob_name
from archive.media_hosts import HostAllowlist, parse_allowlist
from archive.names import SETTING_ACS_ENDPOINT
from storage.media import CHUNK_BYTES, MediaFetchError, StoredMedia
from storage.media_acs import AcsEndpoint, fetch_acs_media, parse_endpoint
from storage.settings import SettingError
from tests.support.acs_stand_in import API_VERSION, AcsMediaItem, AcsStandIn

pytestmark = pytest.mark.azurite

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acs"
LOCAL = parse_allowlist("127.0.0.1")
CAP = 2 * CHUNK_BYTES


@pytest.fixture
def acs() -> Iterator[AcsStandIn]:
    server = AcsStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def container(azurite_conn: str, unique_name: str) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(azurite_conn).get_container_client(
        unique_name)
    client.create_container()
    return client


def image_event(media_id: str, mime: str | None = "image/jpeg") -> CanonicalEvent:
    (event,) = parse_acs((FIXTURES / "image_caption.json").read_bytes(),
                         received_at=datetime(2024, 12, 6, tzinfo=UTC)).events
    ref = dataclasses.replace(event.media[0], media_id=media_id, mime_type=mime)
    return dataclasses.replace(event, message_id=f"msg-{uuid.uuid4().hex}", media=(ref,))


def fetch(container: ContainerClient, event: CanonicalEvent, endpoint: AcsEndpoint,
          allowlist: HostAllowlist = LOCAL) -> StoredMedia:
    ref = event.media[0]
    return fetch_acs_media(container, event, ref, endpoint=endpoint, max_bytes=CAP,
                           allowlist=allowlist,
                           blob_name_for=lambda mime: media_blob_name(event, ref, mime))


def test_media_is_downloaded_by_id_and_stored_with_its_hash(
        acs: AcsStandIn, container: ContainerClient) -> None:
    data = os.urandom(CHUNK_BYTES + 12345)  # more than one block
    media_id = str(uuid.uuid4())
    item = acs.add(media_id, AcsMediaItem(data))
    event = image_event(media_id)
    stored = fetch(container, event, parse_endpoint(acs.connection_string))
    path = media_blob_name(event, event.media[0], "image/jpeg")
    assert stored.blob_path == path and path.endswith(f"/{media_id}.jpg")
    assert stored.sha256 == item.sha256 and stored.size == len(data)
    blob = container.get_blob_client(path)
    props = blob.get_blob_properties()
    assert props.content_settings.content_type == "image/jpeg"
    assert props.metadata["sha256"] == item.sha256
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == item.sha256
    (request,) = acs.requests
    assert request.path == f"/messages/streams/{media_id}"
    assert request.api_version == API_VERSION and request.authorized
    assert request.authorization is not None and request.authorization.startswith("HMAC-SHA256 ")

    # Another attempt (a replay, a retried activity) finds the blob and downloads nothing.
    again = fetch(container, event, parse_endpoint(acs.connection_string))
    assert again == stored
    assert item.downloads == 1


def test_unannounced_mime_is_taken_from_the_download(
        acs: AcsStandIn, container: ContainerClient) -> None:
    media_id = str(uuid.uuid4())
    acs.add(media_id, AcsMediaItem(b"%PDF-1.7 statement", mime_type="application/pdf"))
    event = image_event(media_id, mime=None)
    stored = fetch(container, event, parse_endpoint(acs.connection_string))
    assert stored.blob_path.endswith(".pdf")
    assert stored.mime_type == "application/pdf"


def test_each_attempt_asks_again_and_failures_have_short_reasons(
        acs: AcsStandIn, container: ContainerClient) -> None:
    media_id = str(uuid.uuid4())
    item = acs.add(media_id, AcsMediaItem(b"jpeg", script=(500, 404)))
    event = image_event(media_id)
    endpoint = parse_endpoint(acs.connection_string)
    for status in (500, 404):
        with pytest.raises(MediaFetchError) as failure:
            fetch(container, event, endpoint)
        reason = str(failure.value)
        assert reason == f"media download failed: HTTP {status}"
    assert item.downloads == 2  # the SDK itself never retried
    assert fetch(container, event, endpoint).size == 4
    assert item.downloads == 3


def test_a_wrong_key_is_refused_by_the_endpoint(
        acs: AcsStandIn, container: ContainerClient) -> None:
    media_id = str(uuid.uuid4())
    acs.add(media_id, AcsMediaItem(b"jpeg"))
    wrong = AcsEndpoint(url=acs.base_url, access_key="d3Jvbmcta2V5LXdyb25nLWtleQ==")
    with pytest.raises(MediaFetchError, match="HTTP 401") as failure:
        fetch(container, image_event(media_id), wrong)
    assert acs.base_url not in str(failure.value) and "d3Jvbmc" not in str(failure.value)
    assert acs.requests[-1].authorized is False
    assert not list(container.list_blobs())


def test_declared_size_over_the_cap_is_refused_before_reading(
        acs: AcsStandIn, container: ContainerClient) -> None:
    media_id = str(uuid.uuid4())
    acs.add(media_id, AcsMediaItem(b"x" * 1024, declared_length=CAP + 1))
    with pytest.raises(MediaFetchError, match="over the"):
        fetch(container, image_event(media_id), parse_endpoint(acs.connection_string))
    assert not list(container.list_blobs())


def test_streamed_size_over_the_cap_stops_the_download(
        acs: AcsStandIn, container: ContainerClient) -> None:
    media_id = str(uuid.uuid4())
    acs.add(media_id, AcsMediaItem(os.urandom(CAP + CHUNK_BYTES), chunked=True))
    with pytest.raises(MediaFetchError, match="cap"):
        fetch(container, image_event(media_id), parse_endpoint(acs.connection_string))
    assert not list(container.list_blobs())
    assert not container.get_blob_client("x").exists()


def test_an_endpoint_off_the_allowlist_is_never_contacted(
        acs: AcsStandIn, container: ContainerClient) -> None:
    media_id = str(uuid.uuid4())
    acs.add(media_id, AcsMediaItem(b"jpeg"))
    with pytest.raises(MediaFetchError, match="allowlist"):
        fetch(container, image_event(media_id), parse_endpoint(acs.connection_string),
              allowlist=parse_allowlist("contoso.communication.azure.com"))
    with pytest.raises(MediaFetchError, match="plain http"):
        fetch(container, image_event(media_id),
              AcsEndpoint("http://contoso.communication.azure.com", acs.access_key),
              allowlist=parse_allowlist("contoso.communication.azure.com"))
    assert acs.requests == []


def test_the_endpoint_setting_is_read_when_not_given(
        acs: AcsStandIn, container: ContainerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    media_id = str(uuid.uuid4())
    acs.add(media_id, AcsMediaItem(b"jpeg"))
    event = image_event(media_id)
    ref = event.media[0]
    monkeypatch.setenv(SETTING_ACS_ENDPOINT, acs.connection_string)
    stored = fetch_acs_media(container, event, ref, max_bytes=CAP, allowlist=LOCAL,
                             blob_name_for=lambda mime: media_blob_name(event, ref, mime))
    assert stored.size == 4
    monkeypatch.setenv(SETTING_ACS_ENDPOINT, "endpoint=http://127.0.0.1:1/")
    with pytest.raises(SettingError):
        fetch_acs_media(container, event, ref, max_bytes=CAP, allowlist=LOCAL,
                        blob_name_for=lambda mime: media_blob_name(event, ref, mime))


def test_a_ref_of_another_event_is_refused(acs: AcsStandIn, container: ContainerClient) -> None:
    event = image_event(str(uuid.uuid4()))
    stranger = MediaRef(media_id="other", mime_type="image/jpeg", provider_sha256=None,
                        filename=None, kind="image")
    with pytest.raises(MediaFetchError, match="not one of the event's"):
        fetch_acs_media(container, event, stranger, max_bytes=CAP, allowlist=LOCAL,
                        endpoint=parse_endpoint(acs.connection_string),
                        blob_name_for=lambda mime: "x")


def test_endpoint_setting_forms() -> None:
    plain = parse_endpoint(" https://contoso.communication.azure.com/ ")
    assert plain == AcsEndpoint("https://contoso.communication.azure.com", None)
    keyed = parse_endpoint("endpoint=https://contoso.communication.azure.com/;accesskey=a2V5==")
    assert keyed == AcsEndpoint("https://contoso.communication.azure.com", "a2V5==")
    assert "a2V5" not in repr(keyed)
