"""Media fetch against hosts, redirects and servers that misbehave (issue 9, "Media fetch").

The Graph lookup's answer is provider data, yet it chooses where the fetcher
connects and where the bearer token goes. Decision (docs/hostile.md):
- lookup and download go only to hosts on MEDIA_HOST_ALLOWLIST, over https; plain
  http only to a loopback host the list names (local tests and devhost);
- the token goes only to those hosts; nothing is sent to any other;
- a redirect is followed only within the same scheme, host and port, a few hops;
- each attempt has an overall deadline, so a trickling server cannot hold it open;
- reasons name no URL, host, port or token (they land in Durable history and
  failure rows), and neither do the logs.

Off-list hosts here are real servers (another loopback address, another port, or
the name `localhost` where only 127.0.0.1 is listed) that answer without a token
and record every request, so "nothing reached it" is observed, not assumed.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from archive.events import CanonicalEvent
from archive.layout import media_blob_name, media_names_to_check
from archive.names import MEDIA_CONTAINER, SETTING_GRAPH_URL, SETTING_MEDIA_HOST_ALLOWLIST
from orchestrations.steps import fetch_media_item
from storage import settings
from storage.media import MediaFetchError, fetch_media
from tests.azurite.test_pipeline_media import image_event
from tests.support.media_server import TOKEN, MediaItem, MediaServer

JPEG_MAGIC = b"\xff\xd8\xff\xe0"

pytestmark = pytest.mark.azurite


@pytest.fixture
def other_port() -> Iterator[MediaServer]:
    """Same loopback address as the Graph stand-in, another port: another origin."""
    server = MediaServer(require_token=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def other_host() -> Iterator[MediaServer]:
    """A host that is not on the allowlist (and not a loopback name either)."""
    server = MediaServer(host="127.0.0.2", require_token=False).start()
    try:
        yield server
    finally:
        server.stop()


def assert_names_no_location(reason: str, *servers: MediaServer) -> None:
    assert "://" not in reason and TOKEN not in reason
    for server in servers:
        assert server.host not in reason and str(server.port) not in reason
    assert "localhost" not in reason


def new_media_id() -> str:
    return f"fetch-{uuid.uuid4().hex}"


def media_blob_exists(conn: str, event: CanonicalEvent) -> bool:
    """A blob under either name the item may have (small media sit under `small/`)."""
    path = media_blob_name(event, event.media[0], "image/jpeg")
    container = BlobServiceClient.from_connection_string(conn).get_container_client(
        MEDIA_CONTAINER
    )
    return any(container.get_blob_client(name).exists()
               for name in media_names_to_check(path, None))


def attempt(event: CanonicalEvent) -> dict[str, object]:
    """One fetch_media activity attempt, as the orchestrator schedules it."""
    return fetch_media_item({"event": event.to_dict(), "media_index": 0})


def refused(conn: str, media_id: str) -> str:
    """The attempt fails and stores nothing; its reason, for the test to judge."""
    event = image_event(media_id)
    with pytest.raises(MediaFetchError) as caught:
        attempt(event)
    assert not media_blob_exists(conn, event)
    return str(caught.value)


@pytest.mark.parametrize("where", ["other host", "loopback name not listed", "https other host"])
def test_lookup_url_off_the_allowlist_gets_no_request_and_no_token(
    conn: str,
    media_server: MediaServer,
    other_port: MediaServer,
    other_host: MediaServer,
    where: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    media_id = new_media_id()
    target = {
        "other host": other_host.download_url(media_id),
        "loopback name not listed": other_port.download_url(media_id, host="localhost"),
        "https other host": other_host.download_url(media_id).replace("http:", "https:", 1),
    }[where]
    for off_list in (other_port, other_host):
        off_list.add(media_id, MediaItem(data=b"bytes from elsewhere"))
    media_server.add(media_id, MediaItem(data=JPEG_MAGIC + os.urandom(32), url=target))
    caplog.set_level(logging.DEBUG)

    reason = refused(conn, media_id)

    assert other_host.requests == [] and other_port.requests == []  # so no token either
    assert "allowlist" in reason
    assert_names_no_location(reason, other_host, other_port, media_server)
    assert TOKEN not in caplog.text and str(other_port.port) not in caplog.text


def test_graph_url_off_the_allowlist_gets_no_token(
    conn: str, media_server: MediaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `localhost` reaches the same server, but only 127.0.0.1 is listed.
    monkeypatch.setenv(SETTING_GRAPH_URL, f"http://localhost:{media_server.port}")
    media_id = new_media_id()
    media_server.add(media_id, MediaItem(data=JPEG_MAGIC))

    reason = refused(conn, media_id)

    assert media_server.requests == []
    assert "allowlist" in reason
    assert_names_no_location(reason, media_server)


def test_unset_allowlist_means_meta_hosts_only(
    conn: str, media_server: MediaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SETTING_MEDIA_HOST_ALLOWLIST)
    media_id = new_media_id()
    media_server.add(media_id, MediaItem(data=JPEG_MAGIC))

    reason = refused(conn, media_id)

    assert media_server.requests == []  # a loopback http Graph URL is not Meta's
    assert "allowlist" in reason


@pytest.mark.parametrize(
    "target", ["other port", "other host over http", "https same host", "file"]
)
def test_download_redirect_off_origin_is_refused(
    conn: str,
    media_server: MediaServer,
    other_port: MediaServer,
    other_host: MediaServer,
    target: str,
) -> None:
    media_id = new_media_id()
    location = {
        "other port": other_port.download_url(media_id),
        "other host over http": other_host.download_url(media_id),
        "https same host": media_server.download_url(media_id).replace("http:", "https:", 1),
        "file": "file:///etc/passwd",
    }[target]
    for off_list in (other_port, other_host):
        off_list.add(media_id, MediaItem(data=b"bytes from elsewhere"))
    item = media_server.add(
        media_id, MediaItem(data=JPEG_MAGIC + os.urandom(32), redirect_to=location, redirects=9)
    )

    reason = refused(conn, media_id)

    assert other_port.requests == [] and other_host.requests == []
    assert "redirect" in reason
    assert item.redirected == 1  # refused at the first hop
    assert_names_no_location(reason, other_host, other_port, media_server)


def test_same_origin_redirect_is_followed_with_the_token(
    conn: str, media_server: MediaServer
) -> None:
    media_id = new_media_id()
    data = JPEG_MAGIC + os.urandom(64)
    item = media_server.add(media_id, MediaItem(
        data=data, redirect_to=f"{media_server.download_url(media_id)}?hop=1"))

    event = image_event(media_id)
    outcome = attempt(event)

    assert outcome["state"] == "stored" and media_blob_exists(conn, event)
    assert item.redirected == 1 and item.downloads == 2
    assert media_server.unauthorized == 0  # the hop within the origin kept its token


def test_redirect_loop_within_the_origin_stops_after_a_few_hops(
    conn: str, media_server: MediaServer
) -> None:
    media_id = new_media_id()
    item = media_server.add(media_id, MediaItem(
        data=JPEG_MAGIC, redirect_to=media_server.download_url(media_id), redirects=1000))

    assert "redirect" in refused(conn, media_id)
    assert 1 < item.redirected <= 5


def test_trickling_download_fails_at_the_attempt_deadline(
    conn: str, media_server: MediaServer
) -> None:
    media_id = new_media_id()
    # 64 pieces of 1 KiB, 50 ms apart: every socket read succeeds, the whole takes ~3 s.
    item = media_server.add(
        media_id, MediaItem(data=os.urandom(64 * 1024), trickle_seconds=0.05)
    )
    container = BlobServiceClient.from_connection_string(conn).get_container_client(
        MEDIA_CONTAINER
    )
    path = f"tests/trickle/{media_id}.jpg"

    with pytest.raises(MediaFetchError, match="deadline") as caught:
        fetch_media(
            container,
            graph_url=media_server.base_url,
            token=TOKEN,
            media_id=media_id,
            provider_sha256=None,
            blob_name_for=lambda _mime: path,
            fallback_mime=None,
            max_bytes=10 * 1024 * 1024,
            allowlist=settings.media_host_allowlist(),
            deadline_seconds=1.0,
        )

    assert item.downloads == 1
    assert not container.get_blob_client(path).exists()
    assert_names_no_location(str(caught.value), media_server)
