"""Seed the archive through the real pipeline code (never hand-written index rows).

archive_body runs what the queue worker and the orchestration do for one webhook:
ingest.worker.prepare (raw blob, parse, failure rows), then for each event the
store_record activity with the orchestration's own input (media outcomes as the
orchestrator passes them). poison enqueues an envelope the way the front door does,
onto the queue the host moves exhausted messages to.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from archive.names import INGEST_POISON_QUEUE, INGEST_QUEUE, RAW_CONTAINER
from ingest.worker import orchestration_input, prepare
from orchestrations.archive_event import unavailable
from orchestrations.steps import store_record
from storage.clients import blob_service, queue_client
from storage.envelope import Envelope, decode
from tests.support import webhooks
from tests.support.envelopes import enqueue_signed, meta_envelope

BUSINESS = webhooks.PHONE_NUMBER_ID


def new_customer() -> str:
    return f"1555{uuid.uuid4().int % 10**7:07d}"


def new_wamid() -> str:
    return f"wamid.{uuid.uuid4().hex}=="


def archive_envelope(envelope: Envelope, *, media_error: str | None = None) -> list[str]:
    """Queue worker + orchestration for one envelope; returns the stored record paths."""
    paths = []
    for index, event in enumerate(prepare(envelope).events):
        payload = orchestration_input(envelope, event, index)
        media = [
            unavailable(m, RuntimeError(media_error or "media fetch failed"))
            for m in payload["event"].get("media") or ()
        ]
        paths.append(store_record({**payload, "media": media})["path"])
    return paths


def archive_body(doc: dict[str, Any] | bytes, **kwargs: Any) -> list[str]:
    body = doc if isinstance(doc, bytes) else webhooks.body_of(doc)
    return archive_envelope(meta_envelope(body, datetime.now(UTC)), **kwargs)


def poison(doc: dict[str, Any] | bytes) -> Envelope:
    """Put a webhook envelope on ingest-poison, encoded as the Functions host stores it."""
    body = doc if isinstance(doc, bytes) else webhooks.body_of(doc)
    envelope = meta_envelope(body, datetime.now(UTC))
    enqueue_signed(
        envelope,
        queue_client(INGEST_POISON_QUEUE),
        blob_service().get_container_client(RAW_CONTAINER),
    )
    return envelope


def run_ingest_worker() -> int:
    """What the ingest queue trigger does for each waiting message; returns how many."""
    queue = queue_client(INGEST_QUEUE)
    done = 0
    for message in queue.receive_messages(messages_per_page=32, visibility_timeout=30):
        archive_envelope(decode(message.content))
        queue.delete_message(message)
        done += 1
    return done


def clear_queues() -> None:
    for name in (INGEST_QUEUE, INGEST_POISON_QUEUE):
        queue_client(name).clear_messages()
