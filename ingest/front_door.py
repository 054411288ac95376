"""The durable hand-off shared by the webhook and outbound routes: envelope onto `ingest`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

import azure.functions as func
from azure.core.exceptions import AzureError

from archive.custody import METHOD_OF_SOURCE, Custody
from archive.names import INGEST_QUEUE, RAW_CONTAINER
from ingest.responses import log, storage_unavailable
from storage.clients import Profile, blob_service, queue_client
from storage.envelope import Envelope, Source, enqueue, new_envelope

T = TypeVar("T")
# The front door's own threads. Queue-trigger and activity invocations share the
# worker's default pool (min(32, cores + 4) threads), and while storage is down each
# of them sits in SDK retries; a webhook queued behind them would time out at Meta
# instead of getting its quick 503. Found by the storage-outage reliability test.
FRONT_DOOR_THREADS = 4
_front_door = ThreadPoolExecutor(FRONT_DOOR_THREADS, thread_name_prefix="front-door")


async def on_front_door_thread(handler: Callable[..., T], *args: object) -> T:
    """Run a (sync, storage-calling) HTTP handler on the front door's reserved threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_front_door, functools.partial(handler, *args))


def hand_off(
    source: Source, body: bytes, signature: str, key_id: str,
    received_at: datetime | None = None,
) -> tuple[Envelope, func.HttpResponse | None]:
    """Enqueue `body` with its verified signature; (envelope, None) once durable, else a 503.

    `received_at` is the time the caller validated against (one clock read), so the
    worker's re-parse sees the very time the front door did.
    """
    received_at = received_at or datetime.now(UTC)
    envelope = new_envelope(source, body, received_at, signature)
    custody = Custody(METHOD_OF_SOURCE[source], signature, key_id, received_at)
    try:
        claim_checked = enqueue(
            envelope,
            queue_client(INGEST_QUEUE, Profile.FAST),
            blob_service(Profile.FAST).get_container_client(RAW_CONTAINER),
            custody,
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
