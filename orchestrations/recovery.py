"""Recovering a media gap without touching the immutable record (plain functions).

refetch_input: what the queue worker passes the `refetch_media` orchestration. The
canonical event is rebuilt the way store_record rebuilds pointer inputs, by
re-parsing the verbatim raw body the record points at (deterministic), so the
existing fetch_media activity stores the media under the very name the first
attempt would have used.

store_media_recovery: the activity that writes the addendum record (create-only)
next to the original record and closes the failures-table row. The addendum names
the original record with its sha256 and the media blob with its sha256 and size.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from azure.data.tables import UpdateMode

from archive.custody import CustodyError
from archive.encoding import key_segment
from archive.events import CanonicalEvent
from archive.identity import event_instance_id
from archive.index import FailureKind, day_key, failure_entity
from archive.layout import base_record_name, record_blob_name
from archive.names import RAW_CONTAINER, RECORDS_CONTAINER, TABLE_FAILURES
from archive.parsing import event_skeleton, parse_body
from archive.timestamps import from_iso
from storage.blobs import read_blob, write_record
from storage.clients import blob_service, table_service
from storage.raw_bodies import VerifiedRaw, read_verified
from storage.refetch_request import RefetchRequest, refetch_from_json

log = logging.getLogger("wa_archive.orchestrations")
RECOVERY_SCHEMA = "wa-archive/media-recovery@1"
MEDIA_GAP_KIND: FailureKind = "media_unavailable"


class RecoveryError(ValueError):
    """The record or its raw body no longer yields the media item to fetch."""


def refetch_instance_id(record_path: str, media_id: str) -> str:
    """Deterministic: one instance per (record, media item); a Failed one is restarted."""
    digest = hashlib.sha256(f"{record_path}#{media_id}".encode()).hexdigest()
    return f"refetch-{digest[:48]}"


def addendum_blob_name(record_path: str, media_id: str) -> str:
    stem = record_path[: -len(".json")] if record_path.endswith(".json") else record_path
    return f"{stem}.media-{key_segment(media_id)}.json"


def _event_of(
    record: dict[str, Any], record_path: str, raw: VerifiedRaw
) -> tuple[int, CanonicalEvent]:
    """The record's event and its index in the raw body (a conflict sibling's is its base's)."""
    base = base_record_name(record_path)
    parsed = parse_body(raw.source, raw.body, raw.custody.authenticated_at)
    for index, event in enumerate(parsed.events):
        if event.message_id == record.get("message_id") and record_blob_name(event) == base:
            return index, event
    raise RecoveryError("the raw body no longer yields the record's event")


def gap_row_key(record: dict[str, Any], record_path: str, media_id: str) -> str:
    """The failures-table row of this record's media gap, as store_record wrote it."""
    received_at = from_iso(str(record.get("received_at", "")))
    if received_at is None:
        raise RecoveryError("the record has no usable received_at")
    row = failure_entity(
        MEDIA_GAP_KIND, day=day_key(received_at),
        ref=f"{base_record_name(record_path)}#{media_id}", reason="", detail={},
    )
    return str(row["RowKey"])


def _read_record(record_path: str) -> tuple[bytes, dict[str, Any]]:
    data = read_blob(blob_service().get_container_client(RECORDS_CONTAINER), record_path)
    record: dict[str, Any] = json.loads(data)
    return data, record


def refetch_input(request: RefetchRequest) -> dict[str, Any]:
    """Orchestration input for one refetch (reads the record and its verified raw body).

    The request comes off a queue that several roles can write to, so the gap it
    names must be the record's own: a request naming another row is refused
    (CustodyError; the worker quarantines it), and the row to close is recomputed
    again when the addendum is stored.
    """
    record_bytes, record = _read_record(request.record_path)
    if request.failure_row != gap_row_key(record, request.record_path, request.media_id):
        raise CustodyError("refetch request names a failures row that is not this gap's")
    raw = record.get("raw") or {}
    verified = read_verified(
        blob_service().get_container_client(RAW_CONTAINER), str(raw.get("path"))
    )
    if verified.sha256 != raw.get("sha256"):
        raise RecoveryError("raw body does not match the record's raw sha256")
    event_index, event = _event_of(record, request.record_path, verified)
    index = next(
        (i for i, m in enumerate(event.media) if m.media_id == request.media_id), None
    )
    if index is None:
        raise RecoveryError("the record has no media item with this id")
    # fetch_media needs ids and the media list only; message content stays out of history.
    return {
        "request": request.to_json(),
        "record": {"path": request.record_path,
                   "sha256": hashlib.sha256(record_bytes).hexdigest()},
        "message_id": event.message_id,
        "event": event_skeleton(event),
        "media_index": index,
        # The same pointer archive_event gives fetch_media: the activity re-derives the
        # whole event from the verified raw body (WASender's fetcher needs its mediaKey).
        "raw": {"path": verified.path, "sha256": verified.sha256},
        "event_ref": {"source": verified.source, "index": event_index,
                      "instance_id": event_instance_id(event)},
    }


def _addendum(payload: dict[str, Any]) -> dict[str, Any]:
    request = refetch_from_json(payload["request"])
    media = payload["media"]
    return {
        "schema": RECOVERY_SCHEMA,
        "record": payload["record"],
        "message_id": payload["message_id"],
        "media": {
            "media_id": media["media_id"],
            "state": media["state"],
            "blob_path": media["blob_path"],
            "sha256": media["sha256"],
            "size": media["size"],
            "mime_type": media.get("mime_type"),
        },
        "failure": {"kind": MEDIA_GAP_KIND, "row_key": request.failure_row},
        "requested_by": request.requested_by,
        "requested_at": request.requested_at,
        "recovered_at": payload["recovered_at"],
        # Same recovery, same fingerprint: a re-run activity writes a duplicate, not a conflict.
        "fingerprint": hashlib.sha256(
            f"{request.record_path}#{media['media_id']}#{media['sha256']}".encode()
        ).hexdigest(),
    }


def store_media_recovery(payload: dict[str, Any]) -> dict[str, Any]:
    """Write the addendum (create-only), then close the failure row. Returns the paths."""
    request = refetch_from_json(payload["request"])
    record_bytes, record = _read_record(request.record_path)
    if hashlib.sha256(record_bytes).hexdigest() != payload["record"]["sha256"]:
        raise CustodyError("the record changed since the refetch was requested")
    # Recomputed, not taken from the input: a forged start cannot close another gap.
    row_key = gap_row_key(record, request.record_path, request.media_id)
    addendum = _addendum(payload)
    data = json.dumps(addendum, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    name = addendum_blob_name(request.record_path, request.media_id)
    records = blob_service().get_container_client(RECORDS_CONTAINER)
    outcome = write_record(records, name, data, str(addendum["fingerprint"]))
    recovered_at = from_iso(str(payload["recovered_at"]))
    table_service().get_table_client(TABLE_FAILURES).update_entity(
        {
            "PartitionKey": MEDIA_GAP_KIND,
            "RowKey": row_key,
            "resolved": True,
            "resolved_at": payload["recovered_at"],
            "resolved_day": day_key(recovered_at) if recovered_at else None,
            "resolution_path": outcome.path,
            "media_blob_path": addendum["media"]["blob_path"],
        },
        mode=UpdateMode.MERGE,
    )
    log.info("media recovered state=%s sha256=%s", outcome.state, addendum["media"]["sha256"])
    return {"state": outcome.state, "path": outcome.path,
            "media_blob_path": addendum["media"]["blob_path"]}
