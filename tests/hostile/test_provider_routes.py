"""Hostile requests to the WASender, Twilio and ACS routes: real HTTP on devhost + Azurite.

Each route follows Meta's order (413, then 401 with nothing stored, then the durable
enqueue, then 200). "Nothing stored" is proven by counting: the raw and quarantine
blobs before a batch of refused requests, then a signed sentinel that the worker must
archive, and the same counts after (the sentinel's raw blob the only new one, the
ingest queue drained). The last test drives the route handlers in-process to read the
queue message itself, and checks that no credential reaches the queue, the raw blob
(body and metadata) or the record.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

import function_app
from admin.connection import open_archive
from admin.custody import _RawCache, check_record
from admin.search import SearchQuery, search
from archive.custody import METHOD_ACS, METHOD_OUTBOUND, METHOD_TWILIO, METHOD_WASENDER
from archive.names import (
    INGEST_QUEUE,
    QUARANTINE_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_ARCHIVE_STORAGE,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_MAX_WEBHOOK_BYTES,
    SETTING_PUBLIC_BASE_URL,
    SETTING_TWILIO_AUTH_TOKEN,
    SETTING_WASENDER_WEBHOOK_SECRET,
)
from archive.twilio_signature import sign_form
from devhost.azurite import Azurite
from devhost.discovery import describe
from ingest.worker import orchestration_input, prepare
from orchestrations.steps import store_record
from storage.clients import queue_client
from storage.envelope import decode
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, wait_for
from tests.support import webhooks
from tests.support.pipeline_env import (
    ACS_WEBHOOK_SECRET,
    PUBLIC_BASE_URL,
    TWILIO_AUTH_TOKEN,
    TWILIO_RETIRED_TOKEN,
    WASENDER_RETIRED_SECRET,
    WASENDER_SECRET,
)
from tests.support.routes import call_route
from tests.support.webhooks import CUSTODY_MAC_KEY

APP_CAP = 64 * 1024  # MAX_WEBHOOK_BYTES here: oversize bodies stay cheap
PUBLIC = "https://archive.example.com"  # what Twilio is told to call; not devhost's Host
TWILIO_PATH = "/api/webhooks/twilio"
FUNCTIONS = {spec.name: spec.callable for spec in describe(function_app.app)}


@dataclass
class Stack:
    host: DevHostProcess
    conn: str
    log_path: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder: Path = tmp_path_factory.mktemp("provider_routes")
    azurite = Azurite(folder / "azurite")
    azurite.start()
    try:
        ensure_archive_resources(azurite.connection_string)
        log_path = folder / "devhost.log"
        host = DevHostProcess(
            azurite.connection_string, "http://127.0.0.1:9", log_path,
            extra_env={SETTING_MAX_WEBHOOK_BYTES: str(APP_CAP), SETTING_PUBLIC_BASE_URL: PUBLIC},
        ).start()
        try:
            yield Stack(host, azurite.connection_string, log_path)
        finally:
            host.stop()
    finally:
        azurite.stop()


# --- HTTP and storage helpers ------------------------------------------------------------


def request(stack: Stack, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    parts = urlsplit(stack.host.url)
    assert parts.hostname and parts.port
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def post(stack: Stack, path: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    return request(stack, "POST", path, body, headers)[0]


def container(conn: str, name: str) -> Any:
    return BlobServiceClient.from_connection_string(conn).get_container_client(name)


def raw_names(conn: str) -> set[str]:
    return {b.name for b in container(conn, RAW_CONTAINER).list_blobs()}


def quarantined(conn: str) -> int:
    return sum(1 for _ in container(conn, QUARANTINE_CONTAINER).list_blobs())


def raw_of(conn: str, body: bytes) -> tuple[bytes, dict[str, str]] | None:
    digest = hashlib.sha256(body).hexdigest()
    for name in raw_names(conn):
        if digest in name:
            downloaded = container(conn, RAW_CONTAINER).download_blob(name)
            return downloaded.readall(), dict(downloaded.properties.metadata)
    return None


def reader(conn: str) -> IndexReader:
    return IndexReader(TableServiceClient.from_connection_string(conn))


def unparseable_row(conn: str, body: bytes) -> dict[str, Any] | None:
    digest = hashlib.sha256(body).hexdigest()
    for row in reader(conn).failures("unparseable").rows:
        if json.loads(row["detail"]).get("sha256") == digest:
            return dict(row)
    return None


def expect_nothing_stored(stack: Stack, refusals: Callable[[], list[bytes]]) -> None:
    """Run `refusals` (returns the refused bodies); then prove none of them was stored."""
    before_raw, before_quarantine = raw_names(stack.conn), quarantined(stack.conn)
    refused = refusals()
    sentinel = webhooks.body_of(
        webhooks.text_message(f"wamid.sentinel-{uuid.uuid4().hex}", "15550000000", 1764158400)
    )
    assert post(stack, "/api/webhooks/meta", sentinel, webhooks.signed_headers(sentinel)) == 200
    wait_for("sentinel archived", lambda: raw_of(stack.conn, sentinel))
    queue = QueueClient.from_connection_string(stack.conn, INGEST_QUEUE)
    wait_for("ingest drained",
             lambda: queue.get_queue_properties().approximate_message_count == 0 or None)
    new = raw_names(stack.conn) - before_raw
    assert new == {n for n in new if hashlib.sha256(sentinel).hexdigest() in n}
    assert len(new) == 1
    assert quarantined(stack.conn) == before_quarantine
    for body in refused:
        assert raw_of(stack.conn, body) is None


# --- bodies ----------------------------------------------------------------------------


def wasender_text(message_id: str, text: str = "hello") -> bytes:
    doc = {"event": "messages.received", "timestamp": 1764158400, "data": {"messages": {
        "key": {"id": message_id, "fromMe": False, "remoteJid": "15551234567@s.whatsapp.net",
                "cleanedSenderPn": "15551234567"},
        "messageBody": text, "message": {"conversation": text}}}}
    return json.dumps(doc).encode()


def twilio_text(message_sid: str, text: str = "hello") -> bytes:
    return urllib.parse.urlencode({
        "MessageSid": message_sid, "SmsMessageSid": message_sid, "AccountSid": "AC" + "0" * 32,
        "From": "whatsapp:+15551234567", "To": "whatsapp:+15550783881", "Body": text,
        "NumMedia": "0", "WaId": "15551234567", "ProfileName": "Client",
        "SmsStatus": "received", "MessageType": "text",
    }).encode()


def acs_event(data: dict[str, Any], event_type: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "topic": "/subscriptions/x/resourceGroups/y/providers/"
            "Microsoft.Communication/CommunicationServices/acs", "subject": "advancedMessage",
            "eventType": event_type, "eventTime": "2025-11-26T12:00:00Z", "dataVersion": "1.0",
            "metadataVersion": "1", "data": data}


def acs_text(message_id: str, text: str = "hello") -> bytes:
    data = {"channelType": "whatsapp", "messageId": message_id, "messageType": "text",
            "from": "15551234567", "to": "6a6c6f2b-0000-4000-8000-000000000001",
            "receivedTimestamp": "2025-11-26T12:00:00+00:00", "content": text}
    return json.dumps([acs_event(data, "Microsoft.Communication.AdvancedMessageReceived")]).encode()


def acs_validation(code: str) -> bytes:
    return json.dumps([acs_event({"validationCode": code},
                                 "Microsoft.EventGrid.SubscriptionValidationEvent")]).encode()


def twilio_headers(body: bytes, url: str, token: str = TWILIO_AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": sign_form(token, url, body),
            "Content-Type": "application/x-www-form-urlencoded"}


WASENDER_JSON = {"Content-Type": "application/json"}


def wasender_headers(secret: str = WASENDER_SECRET) -> dict[str, str]:
    return {**WASENDER_JSON, "X-Webhook-Signature": secret}


def acs_path(secret: str | None = ACS_WEBHOOK_SECRET) -> str:
    return "/api/webhooks/acs" + (f"?secret={urllib.parse.quote(secret)}" if secret else "")


def oversize(prefix: bytes) -> bytes:
    return prefix + b" " * (APP_CAP + 100)


# --- WASender --------------------------------------------------------------------------


def test_wasender_refusals_store_nothing(stack: Stack) -> None:
    def refusals() -> list[bytes]:
        body = wasender_text(f"3EB0{uuid.uuid4().hex}")
        big = oversize(body)
        cases = [
            (body, WASENDER_JSON, 401),  # no X-Webhook-Signature
            (body, wasender_headers("not-the-webhook-secret-0000"), 401),
            (body, wasender_headers(WASENDER_SECRET + "x"), 401),  # a prefix is not equality
            (body, wasender_headers(WASENDER_SECRET[:-1]), 401),
            (body, wasender_headers(f"{WASENDER_SECRET},{WASENDER_SECRET}"), 401),
            (b'{"event": "messages.received", "data": ', WASENDER_JSON, 401),  # malformed
            (big, wasender_headers(), 413),  # the cap comes before authentication
            (big, WASENDER_JSON, 413),
        ]
        for sent, headers, expected in cases:
            assert post(stack, "/api/webhooks/wasender", sent, headers) == expected
        return [c[0] for c in cases]

    expect_nothing_stored(stack, refusals)


def test_wasender_signed_bodies_are_archived_with_custody_and_no_secret(stack: Stack) -> None:
    hostile_id = f"3EB0{uuid.uuid4().hex}/../\\%2F+=#?"
    body = wasender_text(hostile_id)
    # Either secret of the rotation list authenticates.
    assert post(stack, "/api/webhooks/wasender", body, wasender_headers(WASENDER_RETIRED_SECRET)) \
        == 200
    stored, metadata = wait_for("wasender raw", lambda: raw_of(stack.conn, body))
    assert stored == body
    assert metadata["custody_method"] == METHOD_WASENDER
    assert metadata["authenticated_by"] == "x-webhook-signature"
    assert metadata["signature"].startswith("hmac-sha256=")
    assert not any(WASENDER_SECRET in v or WASENDER_RETIRED_SECRET in v for v in metadata.values())
    rows = wait_for("wasender indexed", lambda: reader(stack.conn).by_message(hostile_id))
    assert {r["message_id"] for r in rows} == {hostile_id}
    malformed = b'{"event": "messages.received", "data": '
    assert post(stack, "/api/webhooks/wasender", malformed, wasender_headers()) == 200
    row = wait_for("malformed flagged", lambda: unparseable_row(stack.conn, malformed))
    assert json.loads(row["detail"])["events"] == 0


# --- Twilio ----------------------------------------------------------------------------


def test_twilio_refusals_store_nothing(stack: Stack) -> None:
    url = PUBLIC + TWILIO_PATH

    def refusals() -> list[bytes]:
        body = twilio_text("SM" + uuid.uuid4().hex)
        signed = twilio_headers(body, url)
        forged = dict(signed, **{"X-Twilio-Signature": "A" * 27 + "="})
        big = oversize(body)
        cases = [
            (TWILIO_PATH, body, {"Content-Type": "application/x-www-form-urlencoded"}, 401),
            (TWILIO_PATH, body, forged, 401),
            # Signed for the URL the request really reached (devhost's Host), not the public one.
            (TWILIO_PATH, body, twilio_headers(body, stack.host.url + TWILIO_PATH), 401),
            # Signed for the public URL with another query string, or none where one was sent.
            (TWILIO_PATH, body, twilio_headers(body, url + "?tenant=b"), 401),
            (TWILIO_PATH + "?tenant=a", body, signed, 401),
            (TWILIO_PATH, body, twilio_headers(body, url, "f" * 32), 401),  # another account
            (TWILIO_PATH, body + b"&Body=changed", signed, 401),
            # Not a strict form: no parameters to verify, so never stored, whatever is sent.
            (TWILIO_PATH, b"Body=%FF&MessageSid=SM1",
             {"X-Twilio-Signature": sign_form(TWILIO_AUTH_TOKEN, url, b"MessageSid=SM1")}, 401),
            (TWILIO_PATH, b"MessageSid=SM1&&Body=x", twilio_headers(b"MessageSid=SM1&Body=x", url),
             401),
            (TWILIO_PATH, big, signed, 413),
        ]
        for path, sent, headers, expected in cases:
            assert post(stack, path, sent, headers) == expected, (path, expected)
        return [c[1] for c in cases]

    expect_nothing_stored(stack, refusals)


def test_twilio_signed_bodies_are_archived_with_the_signed_url(stack: Stack) -> None:
    hostile_sid = f"SM{uuid.uuid4().hex}/../\\%2F+=#?"
    body = twilio_text(hostile_sid)
    query = "?tenant=a%20b&x=1"
    signed_url = PUBLIC + TWILIO_PATH + query
    status, answer, _ = request(stack, "POST", TWILIO_PATH + query, body,
                                twilio_headers(body, signed_url, TWILIO_RETIRED_TOKEN))
    assert status == 200 and b"<Response>" in answer
    stored, metadata = wait_for("twilio raw", lambda: raw_of(stack.conn, body))
    assert stored == body
    assert metadata["custody_method"] == METHOD_TWILIO
    assert metadata["signed_url"] == signed_url
    assert metadata["signature"] == sign_form(TWILIO_RETIRED_TOKEN, signed_url, body)
    rows = wait_for("twilio indexed", lambda: reader(stack.conn).by_message(hostile_sid))
    assert {r["message_id"] for r in rows} == {hostile_sid}
    record = json.loads(container(stack.conn, RECORDS_CONTAINER)
                        .download_blob(rows[0]["record_path"]).readall())
    assert record["custody"]["signed_url"] == signed_url
    assert record["custody"]["signed_by"] == "twilio"
    # The default port variant Twilio's libraries accept is the URL custody keeps.
    ported = twilio_text("SM" + uuid.uuid4().hex)
    with_port = "https://archive.example.com:443" + TWILIO_PATH
    assert post(stack, TWILIO_PATH, ported, twilio_headers(ported, with_port)) == 200
    assert wait_for("ported raw", lambda: raw_of(stack.conn, ported))[1]["signed_url"] == with_port
    # Signed but with no fields at all: kept and flagged, answered 200.
    assert post(stack, TWILIO_PATH, b"", twilio_headers(b"", PUBLIC + TWILIO_PATH)) == 200
    wait_for("empty form flagged", lambda: unparseable_row(stack.conn, b""))


# --- ACS (Event Grid) ------------------------------------------------------------------


def test_acs_handshakes(stack: Stack) -> None:
    status, _, headers = request(stack, "OPTIONS", "/api/webhooks/acs",
                                 headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert status == 200 and headers.get("WebHook-Allowed-Origin") == "eventgrid.azure.net"
    status, _, headers = request(stack, "OPTIONS", "/api/webhooks/acs")
    assert status == 400 and "WebHook-Allowed-Origin" not in headers

    def refusals() -> list[bytes]:
        code = uuid.uuid4().hex
        validation = acs_validation(code)
        status, answer, _ = request(stack, "POST", acs_path(), validation,
                                    {"Content-Type": "application/json"})
        assert status == 200 and json.loads(answer) == {"validationResponse": code}
        # Unauthenticated, the validation code is not echoed.
        assert post(stack, acs_path(None), validation) == 401
        return [validation]  # answered, never archived

    expect_nothing_stored(stack, refusals)


def test_acs_refusals_store_nothing(stack: Stack) -> None:
    def refusals() -> list[bytes]:
        body = acs_text(str(uuid.uuid4()))
        big = oversize(body)
        cases = [
            (acs_path(None), body, 401),
            (acs_path("wrong-secret-wrong-secret-0000"), body, 401),
            (acs_path(ACS_WEBHOOK_SECRET + "x"), body, 401),
            (acs_path(None) + "?code=" + ACS_WEBHOOK_SECRET, body, 401),  # another parameter
            (acs_path(None), b"[{not json", 401),
            (acs_path(), big, 413),
            (acs_path(None), big, 413),
        ]
        for path, sent, expected in cases:
            assert post(stack, path, sent, {"Content-Type": "application/json"}) == expected
        forged_bearer = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.",
                         "Content-Type": "application/json"}
        assert post(stack, acs_path(None), body, forged_bearer) == 401
        return [c[1] for c in cases]

    expect_nothing_stored(stack, refusals)


def test_acs_deliveries_are_archived_with_custody_and_no_secret(stack: Stack) -> None:
    hostile_id = f"{uuid.uuid4()}/../\\%2F+=#?"
    body = acs_text(hostile_id)
    assert post(stack, acs_path(), body, {"Content-Type": "application/json"}) == 200
    stored, metadata = wait_for("acs raw", lambda: raw_of(stack.conn, body))
    assert stored == body
    assert metadata["custody_method"] == METHOD_ACS
    assert metadata["authenticated_by"] == "url-secret"
    assert not any(ACS_WEBHOOK_SECRET in v for v in metadata.values())
    rows = wait_for("acs indexed", lambda: reader(stack.conn).by_message(hostile_id))
    assert {r["message_id"] for r in rows} == {hostile_id}
    cloud_event = json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/acs",
                              "type": "Microsoft.Communication.AdvancedMessageReceived",
                              "time": "2025-11-26T12:00:00Z",
                              "data": json.loads(acs_text(f"ce-{uuid.uuid4()}"))[0]["data"]})
    assert post(stack, acs_path(), cloud_event.encode(),
                {"Content-Type": "application/cloudevents+json"}) == 200
    malformed = b'[{"eventType": "Microsoft.Communication.AdvancedMessageReceived", "data": '
    assert post(stack, acs_path(), malformed, {"Content-Type": "application/json"}) == 200
    wait_for("malformed flagged", lambda: unparseable_row(stack.conn, malformed))


def test_search_filters_by_provider(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING_ARCHIVE_STORAGE, stack.conn)
    archive = open_archive()
    run = uuid.uuid4().hex
    bodies = {
        "wasender": ("/api/webhooks/wasender", wasender_text(f"3EB0{run}"), wasender_headers()),
        "acs": (acs_path(), acs_text(f"acs-{run}"), {"Content-Type": "application/json"}),
    }
    for path, body, headers in bodies.values():
        assert post(stack, path, body, headers) == 200
    for message_id in (f"3EB0{run}", f"acs-{run}"):
        wait_for("indexed", functools.partial(reader(stack.conn).by_message, message_id))
    day = datetime(2025, 11, 26, tzinfo=UTC)
    for provider in ("wasender", "acs", "twilio"):
        rows = search(archive, SearchQuery(start=day, end=day.replace(hour=23), provider=provider),
                      page_size=200).rows
        assert {r["provider"] for r in rows} <= {provider}
        if provider != "twilio":  # Twilio sends no event time: its rows sit on the receive day
            assert any(run in str(r["message_id"]) for r in rows)
    everything = search(archive, SearchQuery(start=day, end=day.replace(hour=23)),
                        page_size=200).rows
    assert {"wasender", "acs"} <= {r["provider"] for r in everything}
    by_message = search(archive, SearchQuery(message_id=f"acs-{run}", provider="wasender")).rows
    assert by_message == []


def test_no_credential_in_the_devhost_log(stack: Stack) -> None:
    text = stack.log_path.read_text(encoding="utf-8", errors="replace")
    assert "rejected" in text  # the refusals above were logged (by hash and size)
    for secret in (WASENDER_SECRET, WASENDER_RETIRED_SECRET, ACS_WEBHOOK_SECRET,
                   TWILIO_AUTH_TOKEN, TWILIO_RETIRED_TOKEN):
        assert secret not in text


# --- in-process: the queue message itself --------------------------------------------


def call(name: str, req: func.HttpRequest) -> func.HttpResponse:
    handler: Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]] = FUNCTIONS[name]
    return call_route(handler, req)


def test_no_credential_reaches_queue_raw_or_record(conn: str) -> None:
    wasender = wasender_text(f"3EB0{uuid.uuid4().hex}")
    acs = acs_text(str(uuid.uuid4()))
    twilio = twilio_text("SM" + uuid.uuid4().hex)
    twilio_url = PUBLIC_BASE_URL + TWILIO_PATH
    requests = [
        ("wasender_webhook", func.HttpRequest(
            "POST", "http://127.0.0.1/api/webhooks/wasender", headers=wasender_headers(),
            body=wasender)),
        ("acs_webhook", func.HttpRequest(
            "POST", f"http://127.0.0.1{acs_path()}", params={"secret": ACS_WEBHOOK_SECRET},
            headers={"Content-Type": "application/json"}, body=acs)),
        ("twilio_webhook", func.HttpRequest(
            "POST", "http://127.0.0.1/api/webhooks/twilio", headers=twilio_headers(
                twilio, twilio_url), body=twilio)),
    ]
    for name, req in requests:
        assert call(name, req).status_code == 200, name
    credentials = [WASENDER_SECRET, ACS_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN]
    # As the host reads it: base64-decoded (host.json messageEncoding), the envelope's JSON.
    queue = queue_client(INGEST_QUEUE)
    messages = list(queue.receive_messages(max_messages=32, visibility_timeout=60))
    assert len(messages) == 3
    raw = container(conn, RAW_CONTAINER)
    records = container(conn, RECORDS_CONTAINER)
    for message in messages:
        text = str(message.content)
        assert text.startswith("{")
        assert '"signature":"hmac-sha256=' in text or '"signed_url"' in text
        assert not any(secret in text for secret in credentials)
        envelope = decode(text)
        queue.delete_message(message)
        parsed = prepare(envelope)
        assert parsed.events, envelope.source
        downloaded = raw.download_blob(envelope.raw_path)
        blob_text = downloaded.readall().decode() + json.dumps(downloaded.properties.metadata)
        assert not any(secret in blob_text for secret in credentials)
        for index, event in enumerate(parsed.events):
            stored = store_record({**orchestration_input(envelope, event, index), "media": []})
            record = records.download_blob(stored["path"]).readall().decode()
            assert not any(secret in record for secret in credentials)
            method = json.loads(record)["custody"]["method"]
            assert method in (METHOD_WASENDER, METHOD_ACS, METHOD_TWILIO)
            # `wa-archive custody check` re-proves it with the configured secrets, and
            # only with them: without the method's secret it is no longer "verified".
            held: dict[str, list[str]] = {
                METHOD_OUTBOUND: [CUSTODY_MAC_KEY], METHOD_TWILIO: [TWILIO_AUTH_TOKEN]}
            check = check_record(stored["path"], record.encode(), _RawCache(raw), held)
            assert check.outcome == "verified", check
            without = {m: v for m, v in held.items() if m not in (METHOD_OUTBOUND, method)}
            assert check_record(stored["path"], record.encode(), _RawCache(raw),
                                without).outcome == "secret-retired"


@pytest.mark.parametrize(("route", "setting"), [
    ("wasender_webhook", SETTING_WASENDER_WEBHOOK_SECRET),
    ("twilio_webhook", SETTING_TWILIO_AUTH_TOKEN),
    ("twilio_webhook", SETTING_PUBLIC_BASE_URL),
    ("acs_webhook", SETTING_CUSTODY_MAC_KEY),
    ("wasender_webhook", SETTING_CUSTODY_MAC_KEY),
])
@pytest.mark.parametrize("how", ["unset", "unresolved"])
def test_a_misconfigured_provider_answers_500_and_stores_nothing(
    conn: str, monkeypatch: pytest.MonkeyPatch, route: str, setting: str, how: str
) -> None:
    if how == "unset":
        monkeypatch.delenv(setting)
    else:
        monkeypatch.setenv(setting, f"@Microsoft.KeyVault(SecretUri=https://kv/secrets/{setting}/)")
    twilio = twilio_text("SM" + uuid.uuid4().hex)
    requests = {
        "wasender_webhook": func.HttpRequest(
            "POST", "http://127.0.0.1/api/webhooks/wasender", headers=wasender_headers(),
            body=wasender_text(f"3EB0{uuid.uuid4().hex}")),
        "twilio_webhook": func.HttpRequest(
            "POST", "http://127.0.0.1/api/webhooks/twilio",
            headers=twilio_headers(twilio, PUBLIC_BASE_URL + TWILIO_PATH), body=twilio),
        "acs_webhook": func.HttpRequest(
            "POST", f"http://127.0.0.1{acs_path()}", params={"secret": ACS_WEBHOOK_SECRET},
            body=acs_text(str(uuid.uuid4()))),
    }
    response = call(route, requests[route])
    assert response.status_code == 500
    assert json.loads(response.get_body()) == {"error": "internal error"}  # names nothing
    assert list(queue_client(INGEST_QUEUE).peek_messages(max_messages=32)) == []
