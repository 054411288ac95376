"""Ingest envelopes as the front door makes them: signed body, custody for claim-checks."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from azure.storage.blob import ContainerClient
from azure.storage.blob.aio import ContainerClient as AioContainerClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient as AioQueueClient

from archive.custody import METHOD_META, METHOD_OUTBOUND, Custody, key_id, outbound_mac
from archive.signature import sign
from storage.envelope import Envelope, enqueue, new_envelope
from tests.support.webhooks import APP_SECRET, CUSTODY_MAC_KEY


def meta_envelope(body: bytes, received_at: datetime | None = None,
                  secret: str = APP_SECRET) -> Envelope:
    return new_envelope("meta", body, received_at or datetime.now(UTC), sign(body, secret))


def outbound_envelope(body: bytes, received_at: datetime | None = None) -> Envelope:
    at = received_at or datetime.now(UTC)
    return new_envelope("outbound", body, at, outbound_mac(body, CUSTODY_MAC_KEY))


def custody_of(envelope: Envelope) -> Custody:
    if envelope.source == "meta":
        return Custody(METHOD_META, envelope.signature, key_id(APP_SECRET), envelope.received_at)
    return Custody(
        METHOD_OUTBOUND, envelope.signature, key_id(CUSTODY_MAC_KEY), envelope.received_at
    )


def enqueue_signed(envelope: Envelope, queue: QueueClient, raw: ContainerClient) -> bool:
    """What the front door's hand-off does after it verified the signature.

    The front door's own (async) `enqueue`, on aio clients for the same queue and
    container as the given sync ones (base64 messages, as the front door sends them).
    """

    async def run() -> bool:
        async with (
            AioQueueClient.from_queue_url(
                queue.url, credential=queue.credential,
                message_encode_policy=TextBase64EncodePolicy(),
            ) as aio_queue,
            AioContainerClient.from_container_url(raw.url, credential=raw.credential) as aio_raw,
        ):
            return await enqueue(envelope, aio_queue, aio_raw, custody_of(envelope))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    # Called from async code (a Textual pilot test): its own loop, on another thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def store_envelope(envelope: Envelope) -> list[dict[str, Any]]:
    """The queue worker's storage side, then store_record per event (no media outcomes)."""
    from ingest.worker import orchestration_input, prepare
    from orchestrations.steps import store_record

    return [
        store_record({**orchestration_input(envelope, event, index), "media": []})
        for index, event in enumerate(prepare(envelope).events)
    ]


def outbound_capture(wamid: str, sender: str, to: str, at: datetime,
                     text: str = "x") -> bytes:
    doc = {"message_id": wamid, "from": sender, "to": to, "timestamp": at.isoformat(),
           "type": "text", "content": {"text": text}}
    return json.dumps(doc).encode("utf-8")
