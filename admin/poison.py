"""Read `ingest-poison` messages and describe them without exposing message content."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage

from admin.connection import Archive
from archive.names import INGEST_POISON_QUEUE
from storage.envelope import Envelope, EnvelopeError, decode
from storage.refetch_request import RefetchRequest, RefetchRequestError, decode_refetch

PEEK_LIMIT = 32  # the most a queue peek returns
# How long a listing hides each received batch: long enough to receive the next ones.
_LIST_HOLD_SECONDS = 30


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


def _from_peek(message: Any) -> PoisonMessage:
    return PoisonMessage(
        message_id=str(message.id),
        inserted_on=message.inserted_on.isoformat() if message.inserted_on else None,
        dequeue_count=message.dequeue_count,
        text=str(message.content or ""),
    )


def peek_poison(archive: Archive, limit: int | None = None) -> list[PoisonMessage]:
    """Every message in `ingest-poison` (or the first `limit`), oldest first.

    A peek returns at most 32 messages and has no offset, so a peek alone can never
    see past the first 32. When the peek comes back full, the listing pages with
    receive instead: each batch is hidden for a few seconds so that the next receive
    returns the messages after it, and every received message is made visible again
    (visibility timeout 0) in a `finally`, also when the listing fails or is
    interrupted; a release that fails only means the message reappears when its short
    hold ends. A receive counts as a delivery, so the dequeue count shown is the one
    before this listing's own receive.
    """
    queue = archive.queue(INGEST_POISON_QUEUE)
    try:
        peeked = archive.call(
            "queue", f"peek queue '{INGEST_POISON_QUEUE}'",
            lambda: queue.peek_messages(max_messages=PEEK_LIMIT),
        )
    except ResourceNotFoundError:
        return []
    if len(peeked) < PEEK_LIMIT or (limit is not None and limit <= PEEK_LIMIT):
        return [_from_peek(m) for m in peeked][:limit]
    return _receive_all(archive, queue, limit)


def _receive_all(archive: Archive, queue: QueueClient, limit: int | None) -> list[PoisonMessage]:
    held: dict[str, QueueMessage] = {}  # by id: the latest receive (its pop receipt)
    listed: list[PoisonMessage] = []
    try:
        while limit is None or len(listed) < limit:
            batch = archive.call(
                "queue", f"read queue '{INGEST_POISON_QUEUE}'",
                lambda: list(queue.receive_messages(
                    messages_per_page=PEEK_LIMIT, max_messages=PEEK_LIMIT,
                    visibility_timeout=_LIST_HOLD_SECONDS,
                )),
            )
            fresh = [m for m in batch if m.id not in held]
            held.update((m.id, m) for m in batch)
            if not fresh:
                break
            listed.extend(
                PoisonMessage(
                    message_id=str(m.id),
                    inserted_on=m.inserted_on.isoformat() if m.inserted_on else None,
                    dequeue_count=max(0, (m.dequeue_count or 1) - 1),
                    text=str(m.content or ""),
                )
                for m in fresh
            )
    finally:
        for message in held.values():
            try:
                queue.update_message(message.id, message.pop_receipt, visibility_timeout=0)
            except AzureError:
                continue  # deleted meanwhile, or unreachable: its hold ends by itself
    listed.sort(key=lambda m: m.inserted_on or "")
    return listed[:limit]
