"""Replaying a media gap: ask the pipeline to fetch the item again (records stay immutable).

The failures-table row names the record and the media id; a refetch request goes
onto `ingest` (base64, as the host reads that queue) and the queue worker starts the
`refetch_media` orchestration, which writes the media blob and an addendum record and
then marks the row resolved.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from admin.connection import AdminError, Archive
from admin.failures import open_failure
from archive.names import INGEST_QUEUE
from storage.refetch_request import RefetchRequest, encode_refetch

MEDIA_GAP_KIND = "media_unavailable"
NO_EXPIRY = -1  # time_to_live: an admin's request must not age out of the queue


def request_refetch(
    archive: Archive, row_key: str, *, who: str, now: datetime | None = None
) -> RefetchRequest:
    """Enqueue a refetch for the media gap in row `row_key`; raises if it is not open."""
    row = open_failure(archive, MEDIA_GAP_KIND, row_key, "media gap")
    try:
        detail = json.loads(str(row.get("detail") or "{}"))
        request = RefetchRequest(
            record_path=str(detail["record_path"]),
            media_id=str(detail["media_id"]),
            failure_row=row_key,
            requested_by=who,
            requested_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        )
    except (ValueError, KeyError, TypeError):
        raise AdminError(f"media gap {row_key} has no record path and media id") from None
    text = base64.b64encode(encode_refetch(request).encode("utf-8")).decode("ascii")
    queue = archive.queue(INGEST_QUEUE)
    archive.call(
        "queue", f"enqueue to '{INGEST_QUEUE}'",
        lambda: queue.send_message(text, time_to_live=NO_EXPIRY),
    )
    return request
