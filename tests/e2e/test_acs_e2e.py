"""End to end: Event Grid deliveries of ACS Advanced Messaging -> devhost -> records and media.

The real function_app runs under devhost on a private Azurite, with a local ACS stand-in
(media downloads with HMAC key auth, through the real SDK) and a local Entra-like issuer
(its JWKS is ACS_WEBHOOK_KEYS_URL). Tokens are minted the way Entra issues them for Event
Grid; every fixture is posted twice, in either schema, and once with the URL secret.
Checked: both handshakes as Event Grid performs them, one record per ACS event with its
media, statuses posted out of order that never regress, 401 with nothing stored for
missing, forged or expired credentials, and no credential anywhere the archive keeps.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import azure.functions as func
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from archive.acs.parser import parse_acs
from archive.names import (
    INGEST_QUEUE,
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_ACS_ENDPOINT,
    SETTING_ACS_WEBHOOK_AUDIENCE,
    SETTING_ACS_WEBHOOK_KEYS_URL,
    SETTING_ACS_WEBHOOK_TENANT_ID,
)
from devhost.azurite import Azurite
from storage.envelope import decode
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, http, wait_for
from tests.support.acs_stand_in import AUDIENCE, TENANT_ID, AcsMediaItem, AcsStandIn, EntraIssuer
from tests.support.pipeline_env import ACS_WEBHOOK_SECRET, use_archive
from tests.support.routes import call_route

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acs"
ROUTE = "/api/webhooks/acs"
_NOW = datetime(2024, 12, 6, tzinfo=UTC)  # parsing here only reads ids and media lists
STATUS_ID = "b2c3d4e5-1001-4f60-9a7b-8c9d0e1f2a3b"
# Read arrives first, then the earlier delivered and sent: the shown status stays read.
STATUSES = ("status_read", "status_delivered", "status_sent")
OTHERS = ("text_received", "text_received_cloudevent", "image_caption", "document_cloudevent",
          "voice", "sticker", "reply_context", "reaction", "interactive_button_reply",
          "interactive_list_reply_batch", "button", "status_failed_cloudevent",
          "unknown_event_type", "other_channel", "batch_mixed")
RECORDS = 16  # distinct ACS events across all fixtures (see test_each_event_once)
MEDIA = {"7c1d2e3f-0002-4a5b-9c6d-7e8f9a0b1c2d": ("image/jpeg", b"\xff\xd8\xff\xe0 signed form"),
         "7c1d2e3f-0003-4a5b-9c6d-7e8f9a0b1c2d": ("application/pdf", b"%PDF-1.7 statement"),
         "7c1d2e3f-0004-4a5b-9c6d-7e8f9a0b1c2d": ("audio/ogg", b"OggS\x00 voice"),
         "7c1d2e3f-0010-4a5b-9c6d-7e8f9a0b1c2d": ("image/webp", b"RIFF\x00\x00WEBP")}
REJECTED_ID = "a1b2c3d4-0999-4e5f-8a9b-0c1d2e3f4a50"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def content_type(body: bytes) -> str:
    doc = json.loads(body)
    if isinstance(doc, dict):
        return "application/cloudevents+json; charset=utf-8"
    if doc and "specversion" in doc[0]:
        return "application/cloudevents-batch+json; charset=utf-8"
    return "application/json"


@dataclass
class Stack:
    conn: str
    host: DevHostProcess
    acs: AcsStandIn
    issuer: EntraIssuer
    credentials: list[str] = field(default_factory=list)  # every token and secret sent

    @property
    def url(self) -> str:
        return f"{self.host.url}{ROUTE}"

    def token(self, **claims: Any) -> str:
        token = self.issuer.mint(**claims)
        self.credentials.append(token)
        return token

    def post(self, body: bytes, *, token: str | None = None, secret: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        url = self.url + (f"?secret={quote(secret, safe='')}" if secret is not None else "")
        sent = {"Content-Type": content_type(body), "aeg-delivery-count": "0", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return http("POST", url, body, sent)

    def deliver(self, name: str, *, by_secret: bool = False) -> None:
        body = fixture(name)
        status, answer = (self.post(body, secret=ACS_WEBHOOK_SECRET) if by_secret
                          else self.post(body, token=self.token()))
        assert status == 200, (name, answer)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("acs-e2e")
    emulator = Azurite(folder / "azurite")
    emulator.start()
    acs = AcsStandIn().start()
    issuer = EntraIssuer().start()
    for media_id, (mime, data) in MEDIA.items():
        acs.add(media_id, AcsMediaItem(data, mime_type=mime))
    host: DevHostProcess | None = None
    try:
        ensure_archive_resources(emulator.connection_string)
        host = DevHostProcess(emulator.connection_string, "http://127.0.0.1:9",
                              folder / "devhost.log", extra_env={
                                  SETTING_ACS_ENDPOINT: acs.connection_string,
                                  SETTING_ACS_WEBHOOK_AUDIENCE: AUDIENCE,
                                  SETTING_ACS_WEBHOOK_TENANT_ID: TENANT_ID,
                                  SETTING_ACS_WEBHOOK_KEYS_URL: issuer.keys_url,
                              }).start()
        stack = Stack(emulator.connection_string, host, acs, issuer)
        stack.credentials.append(ACS_WEBHOOK_SECRET)
        yield stack
    finally:
        if host is not None:
            host.stop()
        issuer.stop()
        acs.stop()
        emulator.stop()


def blobs(conn: str, container: str) -> dict[str, bytes]:
    client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
    return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}


def records(conn: str) -> dict[str, dict[str, Any]]:
    return {name: json.loads(data) for name, data in blobs(conn, RECORDS_CONTAINER).items()}


def ingest_idle(conn: str) -> bool:
    queue = QueueClient.from_connection_string(conn, INGEST_QUEUE)
    return queue.get_queue_properties().approximate_message_count == 0


def rejected_body() -> bytes:
    doc = json.loads(fixture("text_received"))
    doc[0]["data"]["messageId"] = REJECTED_ID
    return json.dumps(doc).encode()


def test_event_grid_validation_handshake(stack: Stack) -> None:
    body = fixture("validation")
    status, answer = stack.post(body, token=stack.token(),
                                headers={"aeg-event-type": "SubscriptionValidation"})
    assert status == 200
    assert json.loads(answer) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert stack.post(body)[0] == 401
    digest = hashlib.sha256(body).hexdigest()
    assert not [n for n in blobs(stack.conn, RAW_CONTAINER) if digest in n]


def options(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method="OPTIONS", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers)


def test_cloudevents_abuse_protection_handshake(stack: Stack) -> None:
    status, headers = options(stack.url, {"WebHook-Request-Origin": "eventgrid.azure.net",
                                          "WebHook-Request-Rate": "120"})
    assert status == 200
    assert headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert headers["WebHook-Allowed-Rate"] == "120"
    status, headers = options(stack.url, {"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert (status, headers["WebHook-Allowed-Rate"]) == (200, "*")
    status, headers = options(stack.url, {"WebHook-Request-Origin": "a b"})
    assert status != 200 and "WebHook-Allowed-Origin" not in headers


def test_missing_forged_or_expired_credentials_get_401(stack: Stack) -> None:
    body = rejected_body()
    issuer = stack.issuer
    past = int(time.time()) - 7200
    stranger = issuer.add_key(published=False)
    head, _, signature = stack.token().split(".")
    other_claims = issuer.mint(aud="api://someone-else").split(".")[1]
    attempts: dict[str, dict[str, str]] = {
        "none": {},
        "alg none": {"token": stack.token(alg="none")},
        "hs256 with public key": {"token": stack.token(alg="HS256")},
        "expired": {"token": stack.token(iat=past, nbf=past, exp=past + 3600)},
        "wrong audience": {"token": stack.token(aud="api://someone-else")},
        "wrong tenant": {"token": stack.token(
            tid="00000000-0000-0000-0000-000000000000",
            iss="https://sts.windows.net/00000000-0000-0000-0000-000000000000/")},
        "unknown key": {"token": stack.token(key=stranger)},
        "tampered": {"token": f"{head}.{other_claims}.{signature}"},
        "forged token beside the right secret": {"token": stack.token(alg="none"),
                                                 "secret": ACS_WEBHOOK_SECRET},
        "wrong secret": {"secret": "not-the-acs-webhook-secret-0000"},
    }
    stack.credentials.append("not-the-acs-webhook-secret-0000")
    raw_before = set(blobs(stack.conn, RAW_CONTAINER))
    for what, credentials in attempts.items():
        status, _ = stack.post(body, token=credentials.get("token"),
                               secret=credentials.get("secret"))
        assert status == 401, what
    assert set(blobs(stack.conn, RAW_CONTAINER)) == raw_before


@pytest.fixture(scope="module")
def archived(stack: Stack) -> dict[str, dict[str, Any]]:
    reader = IndexReader(TableServiceClient.from_connection_string(stack.conn))
    for name in STATUSES:
        stack.deliver(name)
        stack.deliver(name)  # Event Grid redelivers
        if name == "status_read":  # the read status is in before the earlier ones arrive
            wait_for("read status", lambda: (row := reader.latest_status(STATUS_ID))
                     and row["status"] == "read")
    for name in OTHERS:
        stack.deliver(name, by_secret=name == "text_received")
        stack.deliver(name)
    wait_for("every record", lambda: len(records(stack.conn)) >= RECORDS)
    wait_for("ingest drained", lambda: ingest_idle(stack.conn))
    wait_for("all media", lambda: len(blobs(stack.conn, MEDIA_CONTAINER)) >= len(MEDIA))
    wait_for("media in records", lambda: all(
        m["state"] == "stored" for r in records(stack.conn).values() for m in r["media"]))
    return records(stack.conn)


def expected_events() -> set[tuple[str, str, str, str]]:
    found: set[tuple[str, str, str, str]] = set()
    for name in (*STATUSES, *OTHERS):
        for event in parse_acs(fixture(name), received_at=_NOW).events:
            value = event.status.value if event.status else ""
            found.add((event.message_id, event.event, event.type, value))
    return found


def test_each_event_is_archived_exactly_once(archived: dict[str, dict[str, Any]]) -> None:
    assert not [n for n in archived if ".conflict-" in n]
    assert len(archived) == RECORDS == len(expected_events())
    kept = {(r["message_id"], r["event"], r["type"], (r["status"] or {}).get("value", ""))
            for r in archived.values()}
    assert kept == expected_events()
    for name, record in archived.items():
        assert record["provider"] == "acs" and "/acs/" in name
        assert record["custody"]["method"] == "acs-eventgrid"
        assert record["custody"]["authenticated_by"] in ("entra-bearer", "url-secret")
    text = next(r for r in archived.values() if r["type"] == "text" and "context" not in
                r["content"])
    assert text["content"]["text"] == "Please confirm the trade of 200 shares"
    unknown = {r["type"] for r in archived.values() if r["event"] == "unknown"}
    assert unknown == {"unknown:event:Microsoft.Communication.AdvancedMessageAnalysisCompleted",
                       "unknown:channel:sms"}


def test_media_come_from_the_acs_endpoint(
        stack: Stack, archived: dict[str, dict[str, Any]]) -> None:
    stored = blobs(stack.conn, MEDIA_CONTAINER)
    entries = [m for r in archived.values() for m in r["media"]]
    assert {m["media_id"] for m in entries} == set(MEDIA)
    for entry in entries:
        mime, data = MEDIA[entry["media_id"]]
        assert entry["state"] == "stored" and entry["mime_type"].startswith(mime.split(";")[0])
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert stored[entry["blob_path"]] == data
    assert all(r.authorized for r in stack.acs.requests)
    assert {r.path.rsplit("/", 1)[1] for r in stack.acs.requests} == set(MEDIA)
    assert all(item.downloads == 1 for item in stack.acs.items.values())


def test_statuses_out_of_order_never_regress(
        stack: Stack, archived: dict[str, dict[str, Any]]) -> None:
    reader = IndexReader(TableServiceClient.from_connection_string(stack.conn))
    shown = reader.latest_status(STATUS_ID)
    assert shown is not None and shown["status"] == "read"
    values = sorted(r["status"]["value"] for r in archived.values()
                    if r["event"] == "status" and r["message_id"] == STATUS_ID)
    assert values == ["delivered", "read", "sent"]
    failed = next(r for r in archived.values()
                  if r["event"] == "status" and r["status"]["value"] == "failed")
    assert failed["status"]["errors"] == [{"code": "131026", "title": "Message Undeliverable."}]


def test_no_credential_is_kept_and_rejected_bodies_left_no_trace(
        stack: Stack, archived: dict[str, dict[str, Any]]) -> None:
    assert not [r for r in archived.values() if r["message_id"] == REJECTED_ID]
    assert hashlib.sha256(rejected_body()).hexdigest() not in " ".join(
        blobs(stack.conn, RAW_CONTAINER))
    service = BlobServiceClient.from_connection_string(stack.conn)
    raw = service.get_container_client(RAW_CONTAINER)
    kept: list[str] = []
    for blob in raw.list_blobs(include=["metadata"]):
        kept.append(json.dumps(blob.metadata))
        assert blob.metadata["custody_method"] == "acs-eventgrid"
    kept += [json.dumps(r) for r in archived.values()]
    everything = "\n".join(kept)
    assert len(stack.credentials) > 20
    for credential in stack.credentials:
        assert credential not in everything
        signature = credential.split(".")[-1]  # not even a token's signature ("none": empty)
        assert not signature or signature not in everything


def test_the_queue_message_holds_no_credential(
        fresh_azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest message as the route writes it (run in-process: devhost would consume it)."""
    from ingest.webhooks_acs import acs_webhook

    issuer = EntraIssuer().start()
    try:
        conn = fresh_azurite.connection_string
        use_archive(monkeypatch, conn)
        monkeypatch.setenv(SETTING_ACS_WEBHOOK_AUDIENCE, AUDIENCE)
        monkeypatch.setenv(SETTING_ACS_WEBHOOK_TENANT_ID, TENANT_ID)
        monkeypatch.setenv(SETTING_ACS_WEBHOOK_KEYS_URL, issuer.keys_url)
        token = issuer.mint()
        body = fixture("image_caption")
        for headers, params in (({"Authorization": f"Bearer {token}"}, {}),
                                ({}, {"secret": ACS_WEBHOOK_SECRET})):
            request = func.HttpRequest(
                method="POST", url=f"http://localhost{ROUTE}", body=body, params=params,
                headers={"Content-Type": "application/json", **headers})
            assert call_route(acs_webhook, request).status_code == 200
        queue = QueueClient.from_connection_string(
            conn, INGEST_QUEUE, message_decode_policy=TextBase64DecodePolicy())
        messages = queue.peek_messages(max_messages=32)
        assert len(messages) == 2
        for message in messages:
            text = str(message.content)
            assert token not in text and token.split(".")[-1] not in text  # RS256: signed
            assert ACS_WEBHOOK_SECRET not in text
            envelope = decode(text)
            assert envelope.source == "acs" and envelope.body == body
            assert envelope.authenticated_by in ("entra-bearer", "url-secret")
    finally:
        issuer.stop()


def test_unreachable_signing_keys_answer_503_and_store_nothing(
        fresh_azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token that cannot be judged is neither refused for good (401) nor accepted."""
    from ingest.webhooks_acs import acs_webhook

    issuer = EntraIssuer().start()
    token = issuer.mint()
    keys_url = issuer.keys_url
    issuer.stop()  # the issuer's keys endpoint is gone
    conn = fresh_azurite.connection_string
    use_archive(monkeypatch, conn)
    monkeypatch.setenv(SETTING_ACS_WEBHOOK_AUDIENCE, AUDIENCE)
    monkeypatch.setenv(SETTING_ACS_WEBHOOK_TENANT_ID, TENANT_ID)
    monkeypatch.setenv(SETTING_ACS_WEBHOOK_KEYS_URL, keys_url)
    request = func.HttpRequest(
        method="POST", url=f"http://localhost{ROUTE}", body=fixture("text_received"), params={},
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    answer = call_route(acs_webhook, request)
    assert answer.status_code == 503
    assert answer.headers.get("Retry-After") == "30"
    queue = QueueClient.from_connection_string(
        conn, INGEST_QUEUE, message_decode_policy=TextBase64DecodePolicy())
    assert queue.peek_messages(max_messages=5) == []
    assert not blobs(conn, RAW_CONTAINER)
