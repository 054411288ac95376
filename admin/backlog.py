"""Queue backlog: how much is waiting in `ingest`, how old it is, and what is poisoned."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import Archive
from archive.names import INGEST_POISON_QUEUE, INGEST_QUEUE


@dataclass(frozen=True)
class Backlog:
    ingest_depth: int  # approximate, as Azure reports it
    oldest_age_seconds: float | None  # None when the queue is empty
    oldest_inserted_on: str | None
    poison_depth: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def queue_depth(archive: Archive, name: str) -> int:
    try:
        props = archive.call(
            "queue",
            f"read the depth of queue '{name}'",
            lambda: archive.queue(name).get_queue_properties(),
        )
    except ResourceNotFoundError:
        return 0
    return int(props.approximate_message_count or 0)


def backlog(archive: Archive, now: datetime | None = None) -> Backlog:
    now = now or datetime.now(UTC)
    ingest_depth = queue_depth(archive, INGEST_QUEUE)
    oldest: datetime | None = None
    if ingest_depth:
        # Peeking does not hide or dequeue anything: the pipeline is undisturbed.
        peeked = archive.call(
            "queue",
            f"peek queue '{INGEST_QUEUE}'",
            lambda: archive.queue(INGEST_QUEUE).peek_messages(max_messages=1),
        )
        if peeked:
            oldest = peeked[0].inserted_on
    return Backlog(
        ingest_depth=ingest_depth,
        oldest_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else None,
        oldest_inserted_on=oldest.isoformat() if oldest else None,
        poison_depth=queue_depth(archive, INGEST_POISON_QUEUE),
    )
