"""Drive the real pipeline code on Azurite, step by step, the way the hosts chain it.

POST handler (signature, cap, enqueue) -> the `ingest` queue -> the queue worker's
storage side (raw blob, parse, failure rows) -> the orchestration input (through JSON,
as Durable history carries it) -> the store_record activity. No orchestration engine:
the hostile-input tests care about what each step stores, not about scheduling.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.storage.blob import BlobServiceClient

import function_app
from archive.names import INGEST_QUEUE, RAW_CONTAINER, RECORDS_CONTAINER
from archive.parsing import Parsed
from devhost.discovery import describe
from ingest.worker import orchestration_input, prepare
from orchestrations.archive_event import unavailable
from orchestrations.steps import fetch_media_item, store_record
from storage.clients import queue_client
from storage.envelope import Envelope, EnvelopeError, decode
from tests.support import webhooks
from tests.support.routes import call_route

FUNCTIONS = {spec.name: spec.callable for spec in describe(function_app.app)}
WEBHOOK_URL = "/api/webhooks/meta"


def post_webhook(body: bytes, headers: dict[str, str]) -> func.HttpResponse:
    handler: Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]] = FUNCTIONS[
        "meta_webhook"
    ]
    return call_route(handler, func.HttpRequest("POST", WEBHOOK_URL, headers=headers, body=body))


def take_envelopes() -> list[Envelope]:
    """Receive and delete everything on `ingest` (no worker runs in these tests)."""
    queue = queue_client(INGEST_QUEUE)
    taken: list[Envelope] = []
    while batch := list(queue.receive_messages(max_messages=32, visibility_timeout=30)):
        for message in batch:
            with contextlib.suppress(EnvelopeError):  # e.g. a media refetch request
                taken.append(decode(message.content))
            queue.delete_message(message)
    return taken


def queued_sha256s() -> list[str]:
    return [envelope.sha256 for envelope in take_envelopes()]


def raw_blob_names(conn: str, sha256: str) -> list[str]:
    raw = BlobServiceClient.from_connection_string(conn).get_container_client(RAW_CONTAINER)
    return [b.name for b in raw.list_blobs() if sha256 in b.name]


def read_raw(conn: str, path: str) -> bytes:
    raw = BlobServiceClient.from_connection_string(conn).get_container_client(RAW_CONTAINER)
    return raw.download_blob(path).readall()


def read_record(conn: str, path: str) -> dict[str, Any]:
    records = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER
    )
    doc: dict[str, Any] = json.loads(records.download_blob(path).readall())
    return doc


@dataclass(frozen=True)
class Archived:
    envelope: Envelope
    parsed: Parsed
    stored: list[dict[str, Any]]  # store_record results, one per event


def through_durable(payload: dict[str, Any]) -> dict[str, Any]:
    """Orchestration inputs travel as JSON in Durable history: they must survive that."""
    doc: dict[str, Any] = json.loads(json.dumps(payload))
    return doc


def media_outcomes(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """What the orchestrator collects: one fetch attempt per item, a failure becomes a gap."""
    outcomes: list[dict[str, Any]] = []
    event = payload["event"]
    for index, media in enumerate(event.get("media") or ()):
        try:
            outcome = fetch_media_item(through_durable({"event": event, "media_index": index}))
        except Exception as error:  # as archive_event_steps does once retries are exhausted
            outcome = unavailable(media, error)
        outcomes.append(through_durable(outcome))
    return outcomes


def archive_envelope(envelope: Envelope, *, fetch_media: bool = False) -> Archived:
    parsed = prepare(envelope)
    stored = []
    for index, event in enumerate(parsed.events):
        payload = through_durable(orchestration_input(envelope, event, index))
        media = media_outcomes(payload) if fetch_media else []
        stored.append(store_record({**payload, "media": media}))
    return Archived(envelope, parsed, stored)


def archive_signed(body: bytes, *, fetch_media: bool = False) -> Archived:
    """Sign and POST `body`, then run the queue worker and store_record on what was queued."""
    response = post_webhook(body, webhooks.signed_headers(body))
    assert response.status_code == 200, response.get_body()
    digest = hashlib.sha256(body).hexdigest()
    assert json.loads(response.get_body())["sha256"] == digest
    mine = [e for e in take_envelopes() if e.sha256 == digest]
    assert len(mine) == 1
    return archive_envelope(mine[0], fetch_media=fetch_media)
