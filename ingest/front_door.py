"""The durable hand-off shared by the webhook and outbound routes: envelope onto `ingest`."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func
from azure.core.exceptions import AzureError

from archive.names import INGEST_QUEUE, RAW_CONTAINER
from ingest.responses import log, storage_unavailable
from storage.clients import Profile, blob_service, queue_client
from storage.envelope import Envelope, Source, enqueue, new_envelope


def hand_off(source: Source, body: bytes) -> tuple[Envelope, func.HttpResponse | None]:
    """Enqueue `body`; returns (envelope, None) once durable, or an error response (503)."""
    envelope = new_envelope(source, body, datetime.now(UTC))
    try:
        claim_checked = enqueue(
            envelope,
            queue_client(INGEST_QUEUE, Profile.FAST),
            blob_service(Profile.FAST).get_container_client(RAW_CONTAINER),
        )
    except AzureError as exc:
        log.warning(
            "ingest enqueue failed source=%s sha256=%s error=%s",
            source,
            envelope.sha256,
            type(exc).__name__,
        )
        return envelope, storage_unavailable()
    log.info(
        "ingest enqueued source=%s sha256=%s size=%d claim_check=%s",
        source,
        envelope.sha256,
        envelope.size,
        claim_checked,
    )
    return envelope, None
