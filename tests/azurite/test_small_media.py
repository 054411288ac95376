"""Small media under `media/small/` (issue 14), through the real fetch code on Azurite.

A media item of fewer than SMALL_MEDIA_MAX_BYTES bytes is stored under `small/year=...`
(the lifecycle rule tiers `media/year=` only); everything else keeps its `year=...` name.
The size is only known from the bytes, so what must hold is: whatever retries, races and
redeliveries do, one media item ends as exactly ONE blob, under the name its size gives,
and the day's seal and verification cover both prefixes.

A private Azurite per test keeps the archive-wide seal chain to the test.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from admin.connection import open_archive
from admin.evidence import prove
from archive.events import CanonicalEvent
from archive.layout import SMALL_MEDIA_MAX_BYTES, SMALL_MEDIA_PREFIX, media_blob_name
from archive.names import (
    MEDIA_CONTAINER,
    RECORDS_CONTAINER,
    SEALS_CONTAINER,
    SETTING_MANIFEST_KEY_ID,
)
from archive.seal import day_prefix, parse_seal_document
from devhost.azurite import Azurite
from ingest.worker import orchestration_input, prepare
from orchestrations.steps import fetch_media_item, store_record
from storage.clients import table_service
from storage.media import StoredMedia, store_chunks
from storage.sealing import seal_day
from storage.signing import LocalSigner, generate_key_file, load_key_file, verify_es256
from storage.verification import VerifyReport, verify_archive
from storage.verification_run import verify_day_part
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite
DAY = date(2024, 4, 2)
JPEG = b"\xff\xd8\xff\xe0"


def jpeg(size: int) -> bytes:
    return JPEG + os.urandom(size - len(JPEG))


@dataclass
class Env:
    blobs: BlobServiceClient
    signer: LocalSigner
    media: MediaServer

    @property
    def container(self) -> ContainerClient:
        return self.blobs.get_container_client(MEDIA_CONTAINER)

    def verify(self) -> VerifyReport:
        public = self.signer.public_key()
        return verify_archive(self.blobs, lambda d, s: verify_es256(public, d, s),
                              tables=table_service())


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fresh_azurite: Azurite, media_server: MediaServer,
        tmp_path: Path) -> Iterator[Env]:
    conn = fresh_azurite.connection_string
    use_archive(monkeypatch, conn, graph_url=media_server.base_url)
    key_file = tmp_path / "seal-key.pem"
    generate_key_file(key_file)
    monkeypatch.setenv(SETTING_MANIFEST_KEY_ID, f"file:{key_file}")
    yield Env(BlobServiceClient.from_connection_string(conn), load_key_file(key_file),
              media_server)


@dataclass
class Message:
    """One image message whose media the Graph stand-in serves."""

    env: Env
    item: MediaItem
    body: bytes

    def envelope(self) -> Any:
        return meta_envelope(self.body, datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC))

    @cached_property
    def event(self) -> CanonicalEvent:
        (event,) = prepare(self.envelope()).events  # also keeps the raw body
        return event

    def attempt(self) -> dict[str, Any]:
        """One fetch_media activity attempt, as the orchestrator schedules it."""
        return fetch_media_item({"event": self.event.to_dict(), "media_index": 0})

    def archive(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """One delivery of the webhook: the worker's side, a media attempt, the record."""
        envelope = self.envelope()
        (event,) = prepare(envelope).events
        media = fetch_media_item({"event": event.to_dict(), "media_index": 0})
        stored = store_record({**orchestration_input(envelope, event, 0), "media": [media]})
        return media, stored

    def blobs(self) -> list[str]:
        """Every blob this item has in `media`, under either prefix."""
        name = media_blob_name(self.event, self.event.media[0], "image/jpeg")
        return sorted(b.name for prefix in (name, SMALL_MEDIA_PREFIX + name)
                      for b in self.env.container.list_blobs(name_starts_with=prefix))


def image(env: Env, data: bytes, **behaviour: Any) -> Message:
    media_id = uuid.uuid4().hex
    item = env.media.add(media_id, MediaItem(data=data, **behaviour))
    ts = int(datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC).timestamp())
    body = webhooks.body_of(webhooks.image_message(
        f"wamid.{uuid.uuid4().hex}", "15551234567", ts, media_id, item.sha256))
    return Message(env, item, body)


def test_small_and_large_media_are_sealed_and_verified_under_both_prefixes(env: Env) -> None:
    small = image(env, jpeg(SMALL_MEDIA_MAX_BYTES - 1))
    large = image(env, jpeg(SMALL_MEDIA_MAX_BYTES))
    small_media, small_record = small.archive()
    large_media, _ = large.archive()

    prefix = day_prefix(DAY)
    assert small_media["blob_path"].startswith(f"{SMALL_MEDIA_PREFIX}{prefix}meta/")
    assert small_media["size"] == SMALL_MEDIA_MAX_BYTES - 1
    assert large_media["blob_path"].startswith(f"{prefix}meta/")
    assert small.blobs() == [small_media["blob_path"]]
    assert large.blobs() == [large_media["blob_path"]]
    # The record names the blob where it is, so every reader of records finds it.
    records = env.blobs.get_container_client(RECORDS_CONTAINER)
    record = json.loads(records.download_blob(small_record["path"]).readall())
    assert record["media"][0]["blob_path"] == small_media["blob_path"]

    sealed = seal_day(env.blobs, env.signer, DAY)
    # 5 sealed containers, `media/small/`, the day's disposal certificates, `seals/daily/`.
    assert sealed.kind == "primary" and sealed.list_calls == 8
    assert sealed.hashed == 0
    document = parse_seal_document(env.blobs.get_container_client(SEALS_CONTAINER)
                                   .download_blob(str(sealed.name)).readall())
    leaves = {leaf.key for leaf in document.seal.leaves}
    assert {(MEDIA_CONTAINER, small_media["blob_path"]),
            (MEDIA_CONTAINER, large_media["blob_path"])} <= leaves
    assert document.seal.body()["counts"][MEDIA_CONTAINER] == 2

    report = env.verify()  # `wa-archive verify`
    assert report.ok, [f.to_dict() for f in report.findings]
    assert report.blobs_checked == sealed.leaves
    at = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=2)
    daily = verify_day_part(env.blobs, table_service(), lambda: env.signer, at.date(), DAY, at)
    assert daily["findings"] == 0 and daily["blobs_checked"] == sealed.leaves

    # An offline proof of the small media blob (`wa-archive prove media/small/...`).
    proof = prove(open_archive(), f"{MEDIA_CONTAINER}/{small_media['blob_path']}")
    assert proof["leaf"]["name"] == small_media["blob_path"]

    # Completeness looks under `small/` too: a blob that lands there later is named
    # unsealed until a supplementary seal takes it.
    planted = f"{SMALL_MEDIA_PREFIX}{prefix}planted-{uuid.uuid4().hex}.bin"
    env.container.upload_blob(planted, b"late")
    assert {f.subject for f in env.verify().findings if f.kind == "unsealed"} == {
        f"{MEDIA_CONTAINER}/{planted}"}
    later = seal_day(env.blobs, env.signer, DAY)
    assert (later.kind, later.leaves) == ("supplementary", 1)
    assert env.verify().ok


@pytest.mark.parametrize("lookup", [{}, {"omit_size": True}], ids=["size_declared", "no_size"])
def test_retried_and_redelivered_small_media_is_one_blob_downloaded_once(
    env: Env, lookup: dict[str, Any]
) -> None:
    message = image(env, jpeg(1500), **lookup)

    first, stored = message.archive()
    # A retried attempt (the worker crashed after the commit) and a redelivered
    # webhook both find the committed blob under `small/` and download nothing.
    assert message.attempt() == first
    again, duplicate = message.archive()

    assert first["blob_path"].startswith(SMALL_MEDIA_PREFIX + day_prefix(DAY))
    assert again == first and duplicate["state"] == "duplicate"
    assert message.blobs() == [first["blob_path"]]
    assert message.item.downloads == 1
    assert stored["state"] == "stored"


def test_a_wrong_declared_size_costs_a_download_never_a_second_blob(env: Env) -> None:
    # The lookup says "large", the bytes are small: the existence check asks the
    # unprefixed name, misses, downloads again; the create-only commit under `small/`
    # finds the first attempt's blob and keeps it.
    message = image(env, jpeg(900), announce_size=SMALL_MEDIA_MAX_BYTES * 4)

    first = message.attempt()
    second = message.attempt()

    assert first["blob_path"].startswith(SMALL_MEDIA_PREFIX)
    assert second == first
    assert message.blobs() == [first["blob_path"]]
    assert message.item.downloads == 2


def test_racing_attempts_on_a_small_item_leave_one_blob(env: Env) -> None:
    # Two attempts of one item at once (a retried activity whose first run is alive):
    # both pass the existence check before either commits.
    message = image(env, jpeg(3000), trickle_seconds=0.1)
    assert message.event  # the raw body is kept before the race
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(message.attempt())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors and len(results) == 2
    assert results[0] == results[1]
    assert message.item.downloads == 2  # both streamed: the race really happened
    assert message.blobs() == [results[0]["blob_path"]]
    assert results[0]["blob_path"].startswith(SMALL_MEDIA_PREFIX)


def test_the_name_follows_the_counted_size_whatever_the_chunking(env: Env) -> None:
    # A stream of 1 KiB chunks: the small item is still one Put Blob under `small/`, the
    # larger one is staged in blocks under the unprefixed name it is committed under.
    def store(name: str, size: int) -> StoredMedia:
        return store_chunks(env.container, name, iter([b"x" * 1024] * (size // 1024)),
                            max_bytes=10**6, content_type="audio/ogg", expected_sha256=None)

    small = store("year=2024/month=04/day=02/a.ogg", SMALL_MEDIA_MAX_BYTES - 1024)
    large = store("year=2024/month=04/day=02/b.ogg", SMALL_MEDIA_MAX_BYTES + 6 * 1024)

    assert small.blob_path == "small/year=2024/month=04/day=02/a.ogg"
    assert large.blob_path == "year=2024/month=04/day=02/b.ogg"
    assert sorted(b.name for b in env.container.list_blobs()) == sorted(
        [large.blob_path, small.blob_path])
    assert env.container.get_blob_client(large.blob_path).get_blob_properties().size == (
        SMALL_MEDIA_MAX_BYTES + 6 * 1024)
