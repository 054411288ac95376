"""Replaying a dead letter: a poison message the drain timer moved into `deadletter`.

The failures row (kind `deadletter`) names the blob in its detail (`deadletter_path`).
The blob holds the message text as storage.deadletter.drain_poison received it, that
is after the base64 decoding the host's queue encoding implies (host.json
messageEncoding=base64), so it is base64-encoded again on its way back to `ingest`,
with no expiry. The blob itself stays: `deadletter` is WORM, and the row is marked
resolved with who replayed it and when, as a recovered media gap is.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from admin.connection import AdminError, Archive
from admin.failures import DEADLETTER_KIND, open_failure
from admin.gap_replay import NO_EXPIRY
from archive.names import DEADLETTER_CONTAINER, INGEST_QUEUE, TABLE_FAILURES


def _blob_name(row: dict[str, Any], row_key: str) -> str:
    try:
        detail = json.loads(str(row.get("detail") or "{}"))
        return str(detail["deadletter_path"])
    except (ValueError, KeyError, TypeError):
        raise AdminError(f"dead letter {row_key} names no deadletter blob") from None


def replay_deadletter(
    archive: Archive, row_key: str, *, who: str, now: datetime | None = None
) -> None:
    """Copy the dead letter in row `row_key` back to `ingest`, then close the row."""
    row = open_failure(archive, DEADLETTER_KIND, row_key, "dead letter")
    name = _blob_name(row, row_key)
    container = archive.container(DEADLETTER_CONTAINER)
    try:
        data = archive.call(
            "blob", f"read the '{DEADLETTER_CONTAINER}' container",
            lambda: container.download_blob(name).readall(),
        )
    except ResourceNotFoundError:
        raise AdminError(f"dead letter {row_key}: its blob is missing") from None
    text = base64.b64encode(data).decode("ascii")
    queue = archive.queue(INGEST_QUEUE)
    archive.call(
        "queue", f"enqueue to '{INGEST_QUEUE}'",
        lambda: queue.send_message(text, time_to_live=NO_EXPIRY),
    )
    table = archive.tables.get_table_client(TABLE_FAILURES)
    closed = {
        "PartitionKey": DEADLETTER_KIND,
        "RowKey": row_key,
        "resolved": True,
        "resolved_by": who,
        "resolved_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "resolution": "replayed to ingest",
    }
    archive.call(
        "table", f"mark the dead letter replayed in {TABLE_FAILURES}",
        lambda: table.update_entity(closed, mode=UpdateMode.MERGE),
    )
