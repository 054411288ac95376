"""Drain `ingest-poison` into the `deadletter` container so no poison message ages out.

The Functions host moves a message to `<queue>-poison` after maxDequeueCount failed
tries, with the default time-to-live of 7 days. A body of 45 KiB or less exists
only in that message, so a week without a replay would lose an acknowledged
webhook without a trace. The drain copies each message verbatim to a create-only
blob (its name is the queue message id, so a crash between the copy and the delete
writes it once), lists it in the failures table, and only then deletes it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.data.tables import TableServiceClient
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

import telemetry
from archive.index import day_key, failure_entity
from archive.layout import date_prefix
from storage.blobs import create_only
from storage.envelope import EnvelopeError, decode
from storage.index_writer import write_failure

log = logging.getLogger("wa_archive.deadletter")
# Bounded per run so one timer invocation stays well inside the function timeout.
MAX_PER_RUN = 2000
_LEASE_SECONDS = 120


@dataclass(frozen=True)
class DrainResult:
    drained: int
    remaining: bool  # True when the run stopped at MAX_PER_RUN


def deadletter_blob_name(message_id: str, inserted_on: datetime | None) -> str:
    at = inserted_on or datetime.now(UTC)
    safe_id = "".join(c for c in message_id if c.isalnum() or c == "-")[:64]
    return f"{date_prefix(at)}/{safe_id}.json"


def _describe(content: str) -> dict[str, object]:
    """What the row can say about the message without copying content into the table."""
    try:
        envelope = decode(content)
    except EnvelopeError:
        return {"envelope": False}
    return {"envelope": True, "source": envelope.source, "sha256": envelope.sha256,
            "raw_path": envelope.raw_path}


def drain_poison(
    poison: QueueClient,
    deadletter: ContainerClient,
    tables: TableServiceClient,
    *,
    limit: int = MAX_PER_RUN,
) -> DrainResult:
    drained = 0
    while drained < limit:
        batch = list(poison.receive_messages(
            max_messages=min(32, limit - drained), visibility_timeout=_LEASE_SECONDS
        ))
        if not batch:
            if drained:
                log.info("poison drained count=%d", drained)
            return DrainResult(drained, remaining=False)
        for message in batch:
            content = str(message.content)
            data = content.encode("utf-8")
            name = deadletter_blob_name(str(message.id), message.inserted_on)
            create_only(deadletter, name, data, metadata={
                "sha256": hashlib.sha256(data).hexdigest(),
                "dequeue_count": str(message.dequeue_count or 0),
                "inserted_on": (message.inserted_on or datetime.now(UTC)).isoformat(),
            })
            write_failure(tables, failure_entity(
                "deadletter",
                day=day_key(message.inserted_on or datetime.now(UTC)),
                ref=name,
                reason=f"poison message after {message.dequeue_count or 0} deliveries",
                detail={"deadletter_path": name, **_describe(content)},
            ))
            poison.delete_message(message)
            telemetry.poison("deadletter")
            drained += 1
    log.info("poison drained count=%d", drained)
    return DrainResult(drained, remaining=True)
