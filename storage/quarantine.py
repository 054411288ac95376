"""Set aside what failed custody: a create-only blob in `quarantine` plus a failures row.

A quarantined item never reaches `records`. It is kept, not dropped, because a forged
or tampered message is itself evidence (who could enqueue it, when), and because a
genuine body quarantined by a misconfiguration (a secret rotated away too early) can
be examined and replayed by hand.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

import telemetry
from archive.index import day_key, failure_entity
from archive.layout import date_prefix
from archive.names import QUARANTINE_CONTAINER
from storage.blobs import create_only
from storage.index_writer import write_failure

log = logging.getLogger("wa_archive.custody")


def quarantine_blob_name(data: bytes, at: datetime) -> str:
    """Deterministic per content and day, so a redelivered message is stored once."""
    return f"{date_prefix(at)}/{hashlib.sha256(data).hexdigest()}.bin"


def quarantine(
    blobs: BlobServiceClient,
    tables: TableServiceClient,
    data: bytes,
    *,
    reason: str,
    origin: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> str:
    """Keep `data` in `quarantine` and list it in the failures table; returns the blob name."""
    name = quarantine_blob_name(data, at)
    created = create_only(
        blobs.get_container_client(QUARANTINE_CONTAINER), name, data,
        content_type="application/octet-stream", metadata={"origin": origin},
    )
    write_failure(
        tables,
        failure_entity(
            "quarantined",
            day=day_key(at),
            ref=name,
            reason=reason,
            detail={"quarantine_path": name, "origin": origin, **(detail or {})},
        ),
    )
    if created:  # a redelivery of the same body is stored (and counted) once
        telemetry.poison("quarantine")
    log.warning(
        "custody quarantined origin=%s reason=%s sha256=%s",
        origin, reason, hashlib.sha256(data).hexdigest(),
    )
    return name
