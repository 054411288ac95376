"""Read `ingest-poison` messages and describe them without exposing message content."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import Archive
from archive.names import INGEST_POISON_QUEUE
from storage.envelope import Envelope, EnvelopeError, decode
from storage.refetch_request import RefetchRequest, RefetchRequestError, decode_refetch

PEEK_LIMIT = 32  # the most a queue peek returns


@dataclass(frozen=True)
class PoisonMessage:
    message_id: str
    inserted_on: str | None
    dequeue_count: int | None
    text: str  # the stored queue text, verbatim (what a replay copies back)

    def envelope(self) -> Envelope | None:
        """The ingest envelope inside, whether the host stored it base64 or plain."""
        for candidate in (_b64(self.text), self.text.encode("utf-8")):
            if candidate is None:
                continue
            try:
                return decode(candidate)
            except EnvelopeError:
                continue
        return None

    def refetch(self) -> RefetchRequest | None:
        """A media-gap refetch request (they share the `ingest` queue with envelopes)."""
        for candidate in (_b64(self.text), self.text.encode("utf-8")):
            try:
                request = decode_refetch(candidate) if candidate is not None else None
            except RefetchRequestError:
                return None
            if request is not None:
                return request
        return None

    def reason(self) -> str:
        envelope = self.envelope()
        if envelope is None and self.refetch() is not None:
            return "media refetch request failed on every delivery (record or raw body missing?)"
        if envelope is None:
            return "not an ingest envelope (undecodable queue message)"
        return "processing failed on every delivery (moved to poison after maxDequeueCount)"

    def summary(self) -> dict[str, Any]:
        envelope = self.envelope()
        return {
            "kind": "poison",
            "message_id": self.message_id,
            "inserted_on": self.inserted_on,
            "dequeue_count": self.dequeue_count,
            "reason": self.reason(),
            "source": envelope.source if envelope else None,
            "sha256": envelope.sha256 if envelope else None,
            "size": envelope.size if envelope else None,
            "raw_path": envelope.raw_path if envelope else None,
            "received_at": envelope.received_at.isoformat() if envelope else None,
            "claim_checked": envelope.claim_checked if envelope else None,
            "refetch": refetch.to_json() if (refetch := self.refetch()) else None,
        }

    def payload_pretty(self) -> str:
        """The webhook body pretty-printed, for an admin looking at one failure."""
        envelope = self.envelope()
        if envelope is None:
            return self.text
        if envelope.body is None:
            return f"(claim-checked body: see raw/{envelope.raw_path})"
        try:
            return json.dumps(json.loads(envelope.body), indent=2, ensure_ascii=False)
        except ValueError:
            return envelope.body.decode("utf-8", "replace")


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def peek_poison(archive: Archive, limit: int = PEEK_LIMIT) -> list[PoisonMessage]:
    queue = archive.queue(INGEST_POISON_QUEUE)
    try:
        peeked = archive.call(
            "queue", f"peek queue '{INGEST_POISON_QUEUE}'",
            lambda: queue.peek_messages(max_messages=min(limit, PEEK_LIMIT)),
        )
    except ResourceNotFoundError:
        return []
    return [
        PoisonMessage(
            message_id=str(m.id),
            inserted_on=m.inserted_on.isoformat() if m.inserted_on else None,
            dequeue_count=m.dequeue_count,
            text=str(m.content or ""),
        )
        for m in peeked
    ]
