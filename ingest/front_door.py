"""The durable hand-off shared by the webhook and outbound routes: envelope onto `ingest`.

Every provider route follows Meta's order: size cap (413), authentication (401,
nothing stored), `hand_off` (503 when storage is unreachable), then 200. What goes
into the envelope as `signature` is never a credential: a provider's signature, or
the front door's MAC (archive.custody) for a delivery whose credential may not be kept.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

import azure.functions as func
from azure.core.exceptions import AzureError

from archive.custody import METHOD_OF_SOURCE, Custody, front_door_mac
from archive.custody import key_id as secret_key_id
from archive.names import INGEST_QUEUE, RAW_CONTAINER
from ingest.responses import log, storage_unavailable
from storage import settings
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
    received_at: datetime | None = None, *,
    authenticated_by: str | None = None, signed_url: str | None = None,
) -> tuple[Envelope, func.HttpResponse | None]:
    """Enqueue `body` with its verified signature; (envelope, None) once durable, else a 503.

    `received_at` is the time the caller validated against (one clock read), so the
    worker's re-parse sees the very time the front door did.
    """
    received_at = received_at or datetime.now(UTC)
    envelope = new_envelope(
        source, body, received_at, signature,
        authenticated_by=authenticated_by, signed_url=signed_url,
    )
    custody = Custody(
        METHOD_OF_SOURCE[source], signature, key_id, received_at,
        authenticated_by=authenticated_by, signed_url=signed_url,
    )
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


def mac_hand_off(
    source: Source, body: bytes, authenticated_by: str
) -> tuple[Envelope, func.HttpResponse | None]:
    """Hand off a body whose credential may not be kept: custody is the front door's MAC.

    Raises SettingError when CUSTODY_MAC_KEY is unusable (the route answers 500).
    """
    keys = settings.custody_mac_keys()
    method = METHOD_OF_SOURCE[source]
    mac = front_door_mac(method, authenticated_by, body, keys[0])
    return hand_off(source, body, mac, secret_key_id(keys[0]), authenticated_by=authenticated_by)


def refused(route: str, body: bytes, what: str) -> None:
    """Log a refused delivery by hash and size only (never a header, URL or body)."""
    log.warning(
        "%s %s rejected sha256=%s size=%d",
        route, what, hashlib.sha256(body).hexdigest(), len(body),
    )
