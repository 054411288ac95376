"""What the activities do (plain functions, so tests can run them on Azurite directly).

store_record: build the canonical record, write it create-only, then its index rows,
the latest status for a status event, and failure rows for conflicts and
unavailable media. fetch_media_item: one attempt at one media item.
Inputs and outputs are JSON dicts (they travel through Durable history).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from archive.events import CanonicalEvent
from archive.identity import event_instance_id
from archive.index import day_key, failure_entity
from archive.layout import media_blob_name, record_blob_name
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.record import MediaOutcome, RawRef, build_record, record_bytes
from archive.timestamps import from_iso
from ingest.parsing import parse_body
from storage import settings
from storage.blobs import read_blob, write_record
from storage.clients import blob_service, table_service
from storage.index_writer import update_latest_status, write_failure, write_index_rows
from storage.media import fetch_media

log = logging.getLogger("wa_archive.orchestrations")


def _received_at(payload: dict[str, Any]) -> datetime:
    value = from_iso(str(payload["received_at"]))
    if value is None:
        raise ValueError("received_at must be ISO-8601 with an offset")
    return value


def media_outcome_from(data: dict[str, Any]) -> MediaOutcome:
    return MediaOutcome(
        media_id=str(data["media_id"]),
        state=data["state"],
        blob_path=data.get("blob_path"),
        sha256=data.get("sha256"),
        size=data.get("size"),
        mime_type=data.get("mime_type"),
        reason=data.get("reason"),
    )


def _event_from_raw(raw: RawRef, received_at: datetime, ref: dict[str, Any]) -> CanonicalEvent:
    """The full event behind a pointer input: re-parse the verbatim body (deterministic)."""
    body = read_blob(blob_service().get_container_client(RAW_CONTAINER), raw.path)
    if hashlib.sha256(body).hexdigest() != raw.sha256:
        raise ValueError("raw body does not match its recorded sha256")
    events = parse_body(str(ref["source"]), body, received_at).events
    index = int(ref["index"])
    if index >= len(events) or event_instance_id(events[index]) != ref["instance_id"]:
        raise ValueError("raw body no longer yields the referenced event")
    return events[index]


def store_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Write one event's record and index rows. Returns {"state", "path", "index_rows"}."""
    raw = RawRef(path=str(payload["raw"]["path"]), sha256=str(payload["raw"]["sha256"]))
    received_at = _received_at(payload)
    ref = payload.get("event_ref")
    if ref:
        event = _event_from_raw(raw, received_at, ref)
    else:
        event = CanonicalEvent.from_dict(payload["event"])
    media = [media_outcome_from(m) for m in payload.get("media") or ()]
    record = build_record(event, raw=raw, received_at=received_at, media=media)
    name = record_blob_name(event)
    records = blob_service().get_container_client(RECORDS_CONTAINER)
    outcome = write_record(records, name, record_bytes(record), str(record["fingerprint"]))
    tables = table_service()
    day = day_key(received_at)
    rows = 0
    if outcome.state == "conflict":
        # The first version stays the indexed one; the second is kept and flagged.
        write_failure(
            tables,
            failure_entity(
                "conflict",
                day=day,
                ref=outcome.path,
                reason="a different record already exists under this name",
                detail={"record_path": name, "conflict_path": outcome.path,
                        "message_id": event.message_id},
            ),
        )
    else:
        rows = write_index_rows(tables, record, outcome.path)
        if event.status is not None:
            update_latest_status(tables, record, outcome.path)
    for item in media:
        if item.state == "unavailable":
            write_failure(
                tables,
                failure_entity(
                    "media_unavailable",
                    day=day,
                    ref=f"{name}#{item.media_id}",
                    reason=item.reason or "media could not be fetched",
                    detail={"record_path": outcome.path, "media_id": item.media_id,
                            "message_id": event.message_id},
                ),
            )
    log.info("record %s path=%s index_rows=%d", outcome.state, outcome.path, rows)
    return {"state": outcome.state, "path": outcome.path, "index_rows": rows}


def fetch_media_item(payload: dict[str, Any]) -> dict[str, Any]:
    """One attempt to fetch media item `media_index` of the event; raises to retry."""
    event = CanonicalEvent.from_dict(payload["event"])
    ref = event.media[int(payload["media_index"])]
    stored = fetch_media(
        blob_service().get_container_client(MEDIA_CONTAINER),
        graph_url=settings.graph_url(),
        token=settings.access_token(),
        media_id=ref.media_id,
        provider_sha256=ref.provider_sha256,
        blob_name_for=lambda mime: media_blob_name(event, ref, mime),
        fallback_mime=ref.mime_type,
        max_bytes=settings.max_media_bytes(),
    )
    log.info("media stored path=%s size=%d sha256=%s", stored.blob_path, stored.size, stored.sha256)
    outcome = MediaOutcome(
        media_id=ref.media_id,
        state="stored",
        blob_path=stored.blob_path,
        sha256=stored.sha256,
        size=stored.size,
        mime_type=stored.mime_type,
        reason=None,
    )
    return asdict(outcome)
