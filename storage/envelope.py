"""The small message the HTTP triggers put on the `ingest` queue (claim-check for big bodies).

A queue message holds at most 64 KiB *after* the base64 message encoding that
host.json asks for, so an envelope's JSON may be at most ~48 KiB. Bodies that would
not fit are written to the `raw` container first (create-only, under the same
name the queue trigger uses, so it is written once) and the envelope carries the
pointer instead.

The envelope keeps the provider's signature (or the front door's MAC for outbound
captures and for providers whose credential may not be stored: WASender, ACS) so the
worker can re-verify the body and the raw blob can keep it as custody metadata. It
never holds a credential: no WASender secret, no bearer token, no URL secret.
Nothing in the envelope is trusted by the worker: anyone with Queue Sender could
have written it. Messages are sent with no expiry
(time_to_live=-1): a body acknowledged with 200 may exist only on the queue.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient, ContentSettings
from azure.storage.blob.aio import ContainerClient as AioContainerClient
from azure.storage.queue.aio import QueueClient as AioQueueClient

from archive.custody import Custody
from archive.layout import raw_blob_name
from storage.blobs import JSON_CONTENT, read_blob

# v2 added the signature; a v1 envelope cannot be re-verified and is quarantined.
ENVELOPE_VERSION = 2
# -1: the message never expires (the SDK default is 7 days).
NO_EXPIRY = -1
# Keep the envelope JSON under this; base64 (4/3) then stays at 60 KiB of the 64 KiB limit.
MAX_INLINE_ENVELOPE_BYTES = 45 * 1024
Source = Literal["meta", "outbound", "wasender", "twilio", "acs"]
SOURCES: tuple[Source, ...] = ("meta", "outbound", "wasender", "twilio", "acs")
# Blob metadata and queue messages take short ASCII values only.
_MAX_EXTRA_CHARS = 2048


class EnvelopeError(ValueError):
    """A queue message that is not an ingest envelope."""


@dataclass(frozen=True)
class Envelope:
    source: Source
    received_at: datetime
    sha256: str
    size: int
    body: bytes | None  # inline body, or None when claim-checked
    raw_path: str  # the `raw` blob name for this body (written by the claim-check or the worker)
    signature: str  # the provider's signature as received, or the front door's MAC
    # Optional custody facts (absent for Meta and outbound): how the delivery was
    # authenticated, and for Twilio the exact URL its signature covers.
    authenticated_by: str | None = None
    signed_url: str | None = None

    @property
    def claim_checked(self) -> bool:
        return self.body is None


def new_envelope(
    source: Source, body: bytes, received_at: datetime, signature: str,
    *, authenticated_by: str | None = None, signed_url: str | None = None,
) -> Envelope:
    digest = hashlib.sha256(body).hexdigest()
    return Envelope(
        source=source,
        received_at=received_at,
        sha256=digest,
        size=len(body),
        body=body,
        raw_path=raw_blob_name(digest, received_at),
        signature=signature,
        authenticated_by=authenticated_by,
        signed_url=signed_url,
    )


def _inline_fields(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_b64": base64.b64encode(body).decode("ascii")}


def encode(envelope: Envelope, *, inline: bool) -> str:
    doc: dict[str, Any] = {
        "v": ENVELOPE_VERSION,
        "source": envelope.source,
        "received_at": envelope.received_at.isoformat(),
        "sha256": envelope.sha256,
        "size": envelope.size,
        "raw_path": envelope.raw_path,
        "signature": envelope.signature,
    }
    if envelope.authenticated_by is not None:
        doc["authenticated_by"] = envelope.authenticated_by
    if envelope.signed_url is not None:
        doc["signed_url"] = envelope.signed_url
    if inline:
        if envelope.body is None:
            raise EnvelopeError("cannot inline a claim-checked envelope")
        doc.update(_inline_fields(envelope.body))
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def decode(message: str | bytes) -> Envelope:
    try:
        doc = json.loads(message)
        if not isinstance(doc, dict) or doc.get("v") != ENVELOPE_VERSION:
            raise EnvelopeError("not an ingest envelope (unknown version)")
        source = doc["source"]
        if source not in SOURCES:
            raise EnvelopeError("not an ingest envelope (unknown source)")
        body: bytes | None = None
        if "body" in doc:
            body = str(doc["body"]).encode("utf-8")
        elif "body_b64" in doc:
            body = base64.b64decode(doc["body_b64"], validate=True)
        return Envelope(
            source=source,
            received_at=datetime.fromisoformat(doc["received_at"]),
            sha256=str(doc["sha256"]),
            size=int(doc["size"]),
            body=body,
            raw_path=str(doc["raw_path"]),
            signature=str(doc["signature"]),
            authenticated_by=_optional_text(doc, "authenticated_by"),
            signed_url=_optional_text(doc, "signed_url"),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        if isinstance(exc, EnvelopeError):
            raise
        raise EnvelopeError(f"not an ingest envelope ({type(exc).__name__})") from None


def _optional_text(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_EXTRA_CHARS:
        raise EnvelopeError(f"not an ingest envelope (bad {name})")
    return value


def inline_message(envelope: Envelope) -> str | None:
    """The queue message carrying the body inline, or None when it needs a claim-check."""
    message = encode(envelope, inline=True)
    if len(message) <= MAX_INLINE_ENVELOPE_BYTES // 4 or (
        len(message.encode("utf-8")) <= MAX_INLINE_ENVELOPE_BYTES
    ):
        return message
    return None


async def enqueue(
    envelope: Envelope, queue: AioQueueClient, raw: AioContainerClient, custody: Custody
) -> bool:
    """Put the envelope on the queue; claim-check the body first when it is too big.

    Async (aio clients), as the front door runs on the worker's event loop. Returns
    True when the body was claim-checked (the raw blob, written create-only, then
    carries `custody` as metadata). Raises the SDK's error when storage is
    unreachable: the caller answers 503 so the provider retries.
    """
    message = inline_message(envelope)
    if message is not None:
        await queue.send_message(message, time_to_live=NO_EXPIRY)
        return False
    assert envelope.body is not None
    # Create-only; an existing name is a redelivery of the same body (the name is its hash).
    with contextlib.suppress(ResourceExistsError):
        await raw.upload_blob(
            envelope.raw_path, envelope.body, overwrite=False,
            content_settings=ContentSettings(content_type=JSON_CONTENT),
            metadata=custody.to_metadata(envelope.sha256, envelope.source),
        )
    await queue.send_message(encode(envelope, inline=False), time_to_live=NO_EXPIRY)
    return True


def load_body(envelope: Envelope, raw: ContainerClient) -> bytes:
    """The verbatim body: inline, or read back from the claim-check blob and verified."""
    if envelope.body is not None:
        return envelope.body
    body = read_blob(raw, envelope.raw_path)
    if hashlib.sha256(body).hexdigest() != envelope.sha256:
        raise EnvelopeError("claim-check blob does not match the envelope's sha256")
    return body
