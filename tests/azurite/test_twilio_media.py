"""Twilio media fetch on real Azurite against a local stand-in for Twilio's API and media host."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from archive.events import CanonicalEvent
from archive.layout import media_blob_name
from archive.media_hosts import HostAllowlist, parse_allowlist
from archive.names import MEDIA_CONTAINER, SETTING_TWILIO_AUTH_TOKEN
from archive.twilio.parser import parse_twilio
from orchestrations.steps import fetch_media_item
from storage.media import StoredMedia
from storage.media_http import MediaFetchError
from storage.media_twilio import fetch_twilio_media
from tests.support.pipeline_env import TWILIO_AUTH_TOKEN, use_archive
from tests.support.twilio_api import TwilioApi, TwilioMedia, basic_auth

pytestmark = pytest.mark.azurite

RECEIVED = datetime(2026, 11, 26, 11, 59, tzinfo=UTC)
LOCAL = parse_allowlist("127.0.0.1")
CAP = 1024 * 1024


@pytest.fixture
def twilio() -> Iterator[TwilioApi]:
    api = TwilioApi().start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> ContainerClient:
    use_archive(monkeypatch, azurite_conn)
    return BlobServiceClient.from_connection_string(azurite_conn).get_container_client(
        MEDIA_CONTAINER
    )


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def inbound(api: TwilioApi, items: list[tuple[str, str]], message_sid: str | None = None,
            ) -> CanonicalEvent:
    """A Twilio webhook as Twilio sends it, its MediaUrlN on the stand-in, parsed for real."""
    mm = message_sid or sid("MM")
    params = [(f"MediaContentType{i}", ctype) for i, (_, ctype) in enumerate(items)]
    params += [("SmsMessageSid", mm), ("NumMedia", str(len(items))), ("MessageType", "image"),
               ("SmsStatus", "received"), ("Body", "Signed form"),
               ("To", "whatsapp:+15550783881"), ("MessageSid", mm),
               ("AccountSid", api.account_sid), ("From", "whatsapp:+16315551181")]
    params += [(f"MediaUrl{i}", api.media_url(mm, me)) for i, (me, _) in enumerate(items)]
    result = parse_twilio(urlencode(params).encode(), received_at=RECEIVED)
    assert result.problems == ()
    return result.events[0]


def fetch(container: ContainerClient, event: CanonicalEvent, index: int = 0,
          allowlist: HostAllowlist = LOCAL, max_bytes: int = CAP) -> StoredMedia:
    ref = event.media[index]
    return fetch_twilio_media(
        container, event, ref, blob_name_for=lambda mime: media_blob_name(event, ref, mime),
        max_bytes=max_bytes, allowlist=allowlist,
    )


def assert_short_reason(exc: BaseException, api: TwilioApi) -> None:
    """Failure reasons go to Durable history and failure rows: no URL, host or credential."""
    text = str(exc)
    for secret in (TWILIO_AUTH_TOKEN, "http", "127.0.0", api.account_sid, "/2010-04-01"):
        assert secret not in text


def blob_names(container: ContainerClient, event: CanonicalEvent) -> list[str]:
    folder = media_blob_name(event, event.media[0], None).rsplit("/", 1)[0]
    return [b.name for b in container.list_blobs(name_starts_with=folder + "/")]


def test_media_is_stored_with_sha256_and_credentials_stay_on_the_api_host(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 321)  # more than one 4 MiB block
    me = sid("ME")
    item = twilio.add(me, TwilioMedia(data=data, content_type="image/jpeg"))
    event = inbound(twilio, [(me, "image/jpeg")])

    stored = fetch(container, event, max_bytes=16 * 1024 * 1024)

    expected = media_blob_name(event, event.media[0], "image/jpeg")
    assert stored.blob_path == expected and expected.endswith(f"/{me}.jpg")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    blob = container.get_blob_client(expected)
    props = blob.get_blob_properties()
    assert props.content_settings.content_type == "image/jpeg"
    assert props.metadata["sha256"] == item.sha256
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == item.sha256
    # Basic auth went to the API host; the media host got no Authorization at all.
    assert twilio.api_log == [(twilio.api_log[0][0], basic_auth(twilio.account_sid,
                                                                TWILIO_AUTH_TOKEN))]
    assert [auth for _, auth in twilio.media_log] == [None]
    assert twilio.unauthorized == 0 and twilio.auth_at_media_host == 0
    # Another attempt (a retried activity) finds the blob and asks Twilio nothing.
    again = fetch(container, event)
    assert again.sha256 == item.sha256
    assert (item.api_requests, item.media_requests) == (1, 1)


def test_two_media_and_a_302_redirect(container: ContainerClient, twilio: TwilioApi) -> None:
    first, second = sid("ME"), sid("ME")
    twilio.add(first, TwilioMedia(data=b"\xff\xd8jpeg", redirect_status=302))
    twilio.add(second, TwilioMedia(data=b"\x89PNGpng", content_type="image/png"))
    event = inbound(twilio, [(first, "image/jpeg"), (second, "image/png")])
    assert fetch(container, event, 0).blob_path.endswith(".jpg")
    assert fetch(container, event, 1).blob_path.endswith(".png")
    assert twilio.auth_at_media_host == 0 and len(twilio.media_log) == 2


def test_through_the_activity_with_the_twilio_allowlist(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    me = sid("ME")
    item = twilio.add(me, TwilioMedia(data=b"OggS voice", content_type="audio/ogg"))
    event = inbound(twilio, [(me, "audio/ogg")])
    outcome = fetch_media_item({"event": event.to_dict(), "media_index": 0})
    assert outcome["state"] == "stored" and str(outcome["blob_path"]).endswith(".ogg")
    assert outcome["sha256"] == item.sha256 and outcome["size"] == len(item.data)


def test_redirect_to_a_host_off_the_allowlist_is_refused(
    container: ContainerClient, azurite_conn: str
) -> None:
    api = TwilioApi(media_host="127.0.0.2").start()  # 127.0.0.2 is not on LOCAL
    try:
        me = sid("ME")
        api.add(me, TwilioMedia(data=b"bytes"))
        event = inbound(api, [(me, "image/jpeg")])
        with pytest.raises(MediaFetchError, match="redirect refused: host is not on") as exc:
            fetch(container, event)
        assert_short_reason(exc.value, api)
        assert api.media_log == []  # nothing was sent there
        assert blob_names(container, event) == []
    finally:
        api.stop()


def test_media_url_off_the_allowlist_gets_no_credentials(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    me = sid("ME")
    twilio.add(me, TwilioMedia(data=b"bytes"))
    event = inbound(twilio, [(me, "image/jpeg")])
    with pytest.raises(MediaFetchError, match="media URL refused") as exc:
        fetch(container, event, allowlist=parse_allowlist("api.twilio.com,mms.twiliocdn.com"))
    assert_short_reason(exc.value, twilio)
    assert twilio.api_log == []


def test_a_redirect_back_to_the_api_carries_no_credentials(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    me, mm = sid("ME"), sid("MM")
    twilio.add(me, TwilioMedia(data=b"bytes", redirect_to=twilio.media_url(mm, me)))
    event = inbound(twilio, [(me, "image/jpeg")], message_sid=mm)
    with pytest.raises(MediaFetchError, match="HTTP 401") as exc:
        fetch(container, event)
    assert_short_reason(exc.value, twilio)
    assert [auth is not None for _, auth in twilio.api_log] == [True, False]


def test_redirect_loop_is_bounded(container: ContainerClient, twilio: TwilioApi) -> None:
    me = sid("ME")
    # The media host redirects to itself, without end.
    twilio.add(me, TwilioMedia(data=b"bytes", media_redirect_to=f"/media/{me}"))
    event = inbound(twilio, [(me, "image/jpeg")])
    with pytest.raises(MediaFetchError, match="more than 3 hops"):
        fetch(container, event)
    assert len(twilio.api_log) == 1 and len(twilio.media_log) == 3
    assert twilio.auth_at_media_host == 0


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_media_is_refused(
    container: ContainerClient, twilio: TwilioApi, chunked: bool
) -> None:
    me = sid("ME")
    twilio.add(me, TwilioMedia(data=os.urandom(CAP + 1), chunked=chunked))
    event = inbound(twilio, [(me, "image/jpeg")])
    with pytest.raises(MediaFetchError, match=f"{CAP}") as exc:
        fetch(container, event)
    assert "cap" in str(exc.value)
    assert_short_reason(exc.value, twilio)
    assert blob_names(container, event) == []


def test_download_shorter_than_its_content_length_is_not_stored(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    me = sid("ME")
    twilio.add(me, TwilioMedia(data=b"half a file", declared_length=4096))
    event = inbound(twilio, [(me, "image/jpeg")])
    with pytest.raises(MediaFetchError, match="ended before its Content-Length"):
        fetch(container, event)
    assert blob_names(container, event) == []


def test_retries_start_again_from_the_media_url(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    not_yet, host_down = sid("ME"), sid("ME")
    first = twilio.add(not_yet, TwilioMedia(data=b"late", api_fail_first=1))
    second = twilio.add(host_down, TwilioMedia(data=b"cdn", media_fail_first=1))
    event = inbound(twilio, [(not_yet, "image/jpeg"), (host_down, "image/jpeg")])

    with pytest.raises(MediaFetchError, match="HTTP 404 from the Twilio API") as exc:
        fetch(container, event, 0)
    assert_short_reason(exc.value, twilio)
    assert fetch(container, event, 0).sha256 == first.sha256
    assert first.api_requests == 2

    with pytest.raises(MediaFetchError, match="HTTP 503 from the media host"):
        fetch(container, event, 1)
    assert fetch(container, event, 1).sha256 == second.sha256
    # The second attempt asked the API again for a fresh redirect.
    assert (second.api_requests, second.media_requests) == (2, 2)


def test_wrong_credentials_fail_with_a_short_reason(
    monkeypatch: pytest.MonkeyPatch, container: ContainerClient, twilio: TwilioApi
) -> None:
    monkeypatch.setenv(SETTING_TWILIO_AUTH_TOKEN, "another-auth-token-that-is-wrong")
    me = sid("ME")
    twilio.add(me, TwilioMedia(data=b"bytes"))
    event = inbound(twilio, [(me, "image/jpeg")])
    with pytest.raises(MediaFetchError, match="HTTP 401 from the Twilio API") as exc:
        fetch(container, event)
    assert "another-auth-token" not in str(exc.value)
    assert_short_reason(exc.value, twilio)
    assert twilio.unauthorized == 1 and twilio.media_log == []


def test_without_a_content_type_the_response_names_the_blob(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    me = sid("ME")
    twilio.add(me, TwilioMedia(data=b"%PDF-1.7", content_type="application/pdf"))
    event = inbound(twilio, [(me, "application/pdf")])
    bare = dataclasses.replace(
        event, media=(dataclasses.replace(event.media[0], mime_type=None),)
    )
    stored = fetch(container, bare)
    assert stored.blob_path.endswith(".pdf")
    assert stored.mime_type == "application/pdf"


def test_a_ref_the_webhook_does_not_list_is_refused_without_a_request(
    container: ContainerClient, twilio: TwilioApi
) -> None:
    me = sid("ME")
    twilio.add(me, TwilioMedia(data=b"bytes"))
    event = inbound(twilio, [(me, "image/jpeg")])
    other = dataclasses.replace(
        event, media=(dataclasses.replace(event.media[0], media_id=sid("ME")),)
    )
    with pytest.raises(MediaFetchError, match="has no MediaUrl"):
        fetch(container, other)
    assert twilio.api_log == []
