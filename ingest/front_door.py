"""The durable hand-off shared by the webhook and outbound routes: envelope onto `ingest`.

Every provider route follows Meta's order: size cap (413), authentication (401,
nothing stored), `hand_off` (503 when storage is unreachable), then 200. The routes
are `async def` and `hand_off` awaits the aio Storage clients, so the Functions
worker runs them on its event loop: no thread hop, no sync SDK client in a thread. What goes
into the envelope as `signature` is never a credential: a provider's signature, or
the front door's MAC (archive.custody) for a delivery whose credential may not be kept.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import azure.functions as func
from azure.core.exceptions import AzureError

import telemetry
from archive.custody import METHOD_OF_SOURCE, Custody, front_door_mac
from archive.custody import key_id as secret_key_id
from archive.names import INGEST_QUEUE, RAW_CONTAINER
from ingest.responses import log, misconfigured, storage_unavailable
from storage import settings
from storage.clients import Profile, aio_container_client, aio_queue_client
from storage.envelope import Envelope, Source, enqueue, new_envelope


async def hand_off(
    source: Source, body: bytes, signature: str, key_id: str,
    received_at: datetime | None = None, *,
    authenticated_by: str | None = None, signed_url: str | None = None,
) -> tuple[Envelope, func.HttpResponse | None]:
    """Enqueue `body` with its verified signature; (envelope, None) once durable, else a 503.

    Runs on the worker's event loop with the aio Storage clients (one per loop, FAST
    retry profile: a quick 503 while storage is down), so no webhook waits for a
    thread. `received_at` is the time the caller validated against (one clock read),
    so the worker's re-parse sees the very time the front door did.
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
        claim_checked = await enqueue(
            envelope,
            aio_queue_client(INGEST_QUEUE, Profile.FAST),
            aio_container_client(RAW_CONTAINER, Profile.FAST),
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


async def mac_hand_off(
    source: Source, body: bytes, authenticated_by: str
) -> tuple[Envelope, func.HttpResponse | None]:
    """Hand off a body whose credential may not be kept: custody is the front door's MAC.

    Raises SettingError when CUSTODY_MAC_KEY is unusable (the route answers 500).
    """
    keys = settings.custody_mac_keys()
    method = METHOD_OF_SOURCE[source]
    mac = front_door_mac(method, authenticated_by, body, keys[0])
    return await hand_off(
        source, body, mac, secret_key_id(keys[0]), authenticated_by=authenticated_by
    )


def refused(route: str, body: bytes, what: str) -> None:
    """Log a refused delivery by hash and size only (never a header, URL or body)."""
    log.warning(
        "%s %s rejected sha256=%s size=%d",
        route, what, hashlib.sha256(body).hexdigest(), len(body),
    )


async def metered(
    provider: str, route: str, receive: Callable[[], Awaitable[func.HttpResponse]]
) -> func.HttpResponse:
    """Run a route's delivery step and count its answer (issue 15: accepted or refused, by
    reason, and how long it took). A setting that cannot be used answers 500."""
    started = time.perf_counter()
    try:
        response = await receive()
    except settings.SettingError as exc:
        response = misconfigured(route, exc)
    telemetry.webhook_answered(provider, response.status_code, started)
    return response
