"""End to end: Twilio-signed form webhooks -> devhost (real function_app) -> records and media.

Each fixture body is posted as Twilio would: signed for the exact URL Twilio calls
(PUBLIC_BASE_URL + /api/webhooks/twilio), then posted again (a redelivery). Media URLs
point at a local stand-in for Twilio's API host, which redirects to a second server
standing in for Twilio's media host. The signature here is computed from Twilio's
documented algorithm, independently of the app's own code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient

from admin.custody import check_custody
from archive.custody import METHOD_TWILIO
from archive.names import (
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_PUBLIC_BASE_URL,
)
from archive.twilio.parser import parse_twilio
from devhost.azurite import Azurite
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, http, wait_for
from tests.support.pipeline_env import TWILIO_AUTH_TOKEN, TWILIO_RETIRED_TOKEN
from tests.support.twilio_api import TwilioApi, TwilioMedia

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
ROUTE = "/api/webhooks/twilio"
TWILIO_API = quote("https://api.twilio.com", safe="")
# Parsing in the test only reads ids and media lists; the time given does not matter.
_NOW = datetime(2026, 5, 31, tzinfo=UTC)
CUSTOMER = "16315551181"
# Statuses of one outbound message, posted out of order: read first, queued last.
STATUS_ORDER = ("status_read", "status_delivered", "status_sent", "status_queued")
INBOUND = (
    "text", "image_caption", "document", "voice_note", "two_media", "contacts", "reply",
    "button_reply", "interactive_reply", "location", "referral", "forwarded",
    "unknown_extra_params",
)
OTHER = (
    "status_failed", "status_undelivered", "status_unseen_message", "status_unknown_value",
    "no_message_sid",
)
MEDIA_TYPES = {"image/jpeg": b"\xff\xd8\xff\xe0", "image/png": b"\x89PNG\r\n\x1a\n",
               "application/pdf": b"%PDF-1.7\n", "audio/ogg": b"OggS\x00",
               "text/vcard": b"BEGIN:VCARD\r\n"}


@dataclass
class Stack:
    host: DevHostProcess
    api: TwilioApi
    conn: str

    @property
    def url(self) -> str:
        return f"{self.host.url}{ROUTE}"


@pytest.fixture
def stack(fresh_azurite: Azurite, tmp_path: Path) -> Iterator[Stack]:
    conn = fresh_azurite.connection_string
    ensure_archive_resources(conn)
    api = TwilioApi().start()
    host = DevHostProcess(conn, "http://127.0.0.1:9", tmp_path / "devhost.log")
    # Twilio signs the URL it called: the app rebuilds it from PUBLIC_BASE_URL, which must
    # be exactly the base this test posts to. (settings_for's default is another port.)
    base = f"http://127.0.0.1:{host.port}"
    host.extra_env[SETTING_PUBLIC_BASE_URL] = base
    host.extra_env[SETTING_MEDIA_HOST_ALLOWLIST] = "127.0.0.1"  # both stand-in servers
    host.start()
    try:
        assert host.url == base
        yield Stack(host, api, conn)
    finally:
        host.stop()
        api.stop()


def twilio_signature(token: str, url: str, body: bytes) -> str:
    """Twilio's documented algorithm: HMAC-SHA1 over the URL + each name+value, sorted."""
    pairs = sorted(parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True))
    data = url + "".join(name + value for name, value in pairs)
    digest = hmac.new(token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def post(stack: Stack, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    status, _ = http("POST", stack.url, body, headers)
    return status


def deliver(stack: Stack, body: bytes, token: str = TWILIO_AUTH_TOKEN) -> int:
    return post(stack, body, twilio_signature(token, stack.url, body))


def fixture_body(name: str, api: TwilioApi) -> bytes:
    """The fixture exactly as Twilio sends it, its MediaUrlN pointed at the stand-in."""
    text = (FIXTURES / f"{name}.txt").read_text().strip()
    return text.replace(TWILIO_API, quote(api.base_url, safe="")).encode("ascii")


def container(conn: str, name: str) -> ContainerClient:
    return BlobServiceClient.from_connection_string(conn).get_container_client(name)


def records(conn: str) -> dict[str, dict[str, Any]]:
    box = container(conn, RECORDS_CONTAINER)
    return {b.name: json.loads(box.download_blob(b.name).readall()) for b in box.list_blobs()}


def test_twilio_webhooks_are_archived_once_with_media_and_statuses(stack: Stack) -> None:
    names = list(INBOUND + STATUS_ORDER + OTHER)
    bodies = {name: fixture_body(name, stack.api) for name in names}
    served: dict[str, TwilioMedia] = {}
    for name in names:
        (event,) = parse_twilio(bodies[name], received_at=_NOW).events
        for ref in event.media:
            data = MEDIA_TYPES[ref.mime_type or ""] + uuid.uuid4().bytes * 64
            served[ref.media_id] = stack.api.add(
                ref.media_id, TwilioMedia(data=data, content_type=ref.mime_type or "")
            )
    assert len(served) == 6

    for name in names:
        assert deliver(stack, bodies[name]) == 200, name
    for name in names:  # Twilio retries a delivery it thinks failed: identical bytes
        assert deliver(stack, bodies[name]) == 200, name
    # A delivery signed with the retired token (rotation) is the same event again.
    assert deliver(stack, bodies["text"], TWILIO_RETIRED_TOKEN) == 200

    def all_records() -> dict[str, dict[str, Any]] | None:
        found = records(stack.conn)
        return found if len(found) >= len(names) else None

    def media_blobs() -> list[BlobProperties] | None:
        blobs = list(container(stack.conn, MEDIA_CONTAINER).list_blobs())
        return blobs if len(blobs) >= len(served) else None

    def shown(message_id: str, value: str) -> dict[str, Any] | None:
        row = reader.latest_status(message_id)
        return row if row and row["status"] == value else None

    reader = IndexReader(TableServiceClient.from_connection_string(stack.conn))
    wait_for(f"{len(names)} records", all_records)
    by_id = {parse_twilio(bodies[n], received_at=_NOW).events[0].message_id: n for n in names}
    outbound = parse_twilio(bodies["status_read"], received_at=_NOW).events[0].message_id
    # Statuses out of order never regress: read wins, whatever came after it.
    wait_for("read shown", lambda: shown(outbound, "read"))
    for name in ("status_failed", "status_undelivered"):
        failed = parse_twilio(bodies[name], received_at=_NOW).events[0].message_id
        wait_for(f"{name} shown as failed", functools.partial(shown, failed, "failed"))
    stored = wait_for("media blobs", media_blobs)

    # Every event exactly once: one record per fixture, none twice, no conflicts.
    found = records(stack.conn)
    assert len(found) == len(names), sorted(found)
    assert not [n for n in found if ".conflict-" in n]
    assert all(r["provider"] == "twilio" and "/twilio/" in n for n, r in found.items())
    kinds = sorted((r["event"], r["type"]) for r in found.values())
    assert kinds.count(("status", "status")) == 7
    assert ("unknown", "unknown:status") in kinds and ("unknown", "unknown:no_message_sid") in kinds
    assert {r["message_id"] for r in found.values()} == set(by_id)
    statuses = sorted(str(r.get("status")) for r in reader.by_message(outbound)
                      if r["RowKey"] != "latest-status")
    assert statuses == ["delivered", "queued", "read", "sent"]

    # Media: stored once each, bytes as served, credentials never at the media host.
    assert len(stored) == len(served)
    for blob in stored:
        media_id = blob.name.rsplit("/", 1)[-1].split(".", 1)[0]
        item = served[media_id]
        data = container(stack.conn, MEDIA_CONTAINER).download_blob(blob.name).readall()
        assert hashlib.sha256(data).hexdigest() == item.sha256
        assert (item.api_requests, item.media_requests) == (1, 1)
    assert stack.api.auth_at_media_host == 0 and stack.api.unauthorized == 0
    media_entries = [m for r in found.values() for m in r["media"]]
    assert len(media_entries) == 6
    assert all(m["state"] == "stored" and m["sha256"] == served[m["media_id"]].sha256
               for m in media_entries)
    assert {m["mime_type"] for m in media_entries} == set(MEDIA_TYPES)

    # The customer's timeline holds the inbound messages (statuses stay with their message).
    timeline = {r["message_id"] for r in reader.by_participant(CUSTOMER, page_size=100).rows}
    assert {mid for mid, n in by_id.items() if n in INBOUND} <= timeline

    # Every record re-proves from its raw body and Twilio's signature over its URL.
    report = check_custody(
        container(stack.conn, RECORDS_CONTAINER), container(stack.conn, RAW_CONTAINER),
        {METHOD_TWILIO: [TWILIO_AUTH_TOKEN, TWILIO_RETIRED_TOKEN]},
    )
    assert (report.checked, report.verified, report.failed) == (len(names), len(names), [])
    # Still read, now that every status has long been processed.
    assert shown(outbound, "read")


def test_unsigned_or_missigned_webhooks_are_refused_and_nothing_is_stored(stack: Stack) -> None:
    sid = "SM" + uuid.uuid4().hex
    text = fixture_body("text", stack.api).decode()
    body = "&".join(
        f"{k}={sid}" if k in ("MessageSid", "SmsSid", "SmsMessageSid") else f"{k}={v}"
        for k, v in (pair.split("=", 1) for pair in text.split("&"))
    ).encode()
    good = twilio_signature(TWILIO_AUTH_TOKEN, stack.url, body)
    elsewhere = f"https://archive.example.com{ROUTE}"

    assert post(stack, body, None) == 401
    assert post(stack, body, "") == 401
    assert post(stack, body, base64.b64encode(b"x" * 20).decode()) == 401
    assert post(stack, body, twilio_signature("not-the-auth-token-0123", stack.url, body)) == 401
    assert post(stack, body, twilio_signature(TWILIO_AUTH_TOKEN, elsewhere, body)) == 401
    assert post(stack, body, twilio_signature(TWILIO_AUTH_TOKEN, stack.url + "?x=1", body)) == 401
    tampered = body.replace(b"Please+sell+100", b"Please+sell+900")
    assert post(stack, tampered, good) == 401

    # Signed, but not a form the parser accepts: kept raw, flagged, and answered 200.
    broken = b"MessageSid=SM1&Body=100%ZZ"
    assert deliver(stack, broken) == 200
    # A good delivery after them all, so the worker has had its chance at everything.
    assert post(stack, body, good) == 200

    reader = IndexReader(TableServiceClient.from_connection_string(stack.conn))
    wait_for("the signed message", lambda: reader.by_message(sid))
    failure = wait_for("unparseable row", lambda: reader.failures("unparseable").rows)
    assert failure[0]["reason"] == "body is not form-encoded: malformed percent escape"

    raw_names = [b.name for b in container(stack.conn, RAW_CONTAINER).list_blobs()]
    assert len(raw_names) == 2  # the good body and the signed broken one, nothing else
    assert not [n for n in raw_names if hashlib.sha256(tampered).hexdigest() in n]
    assert len(records(stack.conn)) == 1
    assert stack.api.api_log == []

