"""What the activities do (plain functions, so tests can run them on Azurite directly).

store_record: re-derive the event from its verified raw body, build the canonical
record with its custody, write it create-only, then its index rows, the latest
status for a status event, failure rows for conflicts and unavailable media, the
lexicon flag row when the active supervision policy hits the record, and legal holds.
note_record_failure: the row (or quarantine) written when store_record gives up.
fetch_media_item: one attempt at one media item, with the event's provider's fetcher,
on the event re-derived from its verified raw body.
Inputs and outputs are JSON dicts (they travel through Durable history).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

import telemetry
from archive.canonical import canonical_json
from archive.custody import CustodyError
from archive.events import CanonicalEvent, MediaRef
from archive.holds import matters_covering
from archive.identity import event_instance_id
from archive.index import day_key, failure_entity
from archive.layout import media_blob_name, media_names_to_check, record_blob_name
from archive.names import AUDIT_CONTAINER, MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.parsing import parse_body
from archive.record import MediaOutcome, RawRef, build_record, record_bytes
from storage import settings
from storage.blobs import write_record
from storage.clients import (
    blob_service,
    retention_blob_service,
    retention_table_service,
    table_service,
)
from storage.flags import flag_record
from storage.hold_apply import hold_written
from storage.holds import shared_cache
from storage.index_writer import write_failure, write_index
from storage.lexicon_store import shared_policy_cache
from storage.media import StoredMedia, fetch_media
from storage.quarantine import quarantine
from storage.raw_bodies import VerifiedRaw, read_verified

log = logging.getLogger("wa_archive.orchestrations")


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


def verified_event(payload: dict[str, Any]) -> tuple[CanonicalEvent, VerifiedRaw]:
    """The event an orchestration input points at, re-derived from its verified raw body.

    The input is only a pointer (raw path, sha256, index, instance id): whoever could
    start an orchestration (the Durable system key) cannot choose a record's content.
    """
    try:
        raw_path = str(payload["raw"]["path"])
        raw_sha256 = str(payload["raw"]["sha256"])
        ref = payload["event_ref"]
        index, instance_id = int(ref["index"]), str(ref["instance_id"])
    except (KeyError, TypeError, ValueError):
        raise CustodyError("orchestration input has no raw pointer and event_ref") from None
    try:
        verified = read_verified(blob_service().get_container_client(RAW_CONTAINER), raw_path)
    except ResourceNotFoundError:
        raise CustodyError("orchestration input names a raw body that does not exist") from None
    if verified.sha256 != raw_sha256:
        raise CustodyError("orchestration input's raw sha256 is not the raw body's")
    events = parse_body(verified.source, verified.body, verified.custody.authenticated_at).events
    if index >= len(events) or event_instance_id(events[index]) != instance_id:
        raise CustodyError("the raw body does not yield the event the input names")
    return events[index], verified


def _checked_media(event: CanonicalEvent, outcomes: list[MediaOutcome]) -> list[MediaOutcome]:
    """Stored media must sit where this event's media goes: an input cannot point elsewhere.

    Either of the item's names is accepted (unprefixed, or under `small/`): which one the
    fetcher chose is its business, and an outcome fetched before small media had a prefix
    of their own names the unprefixed one whatever its size.
    """
    refs = {ref.media_id: ref for ref in event.media}
    for outcome in outcomes:
        ref = refs.get(outcome.media_id)
        if ref is None:
            raise CustodyError("a media outcome names an item the event does not have")
        if outcome.state == "stored" and outcome.blob_path not in media_names_to_check(
            media_blob_name(event, ref, outcome.mime_type), None
        ):
            raise CustodyError("a media outcome points outside the event's media folder")
    return outcomes


def store_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Write one event's record and index rows. Returns {"state", "path", "index_rows"}."""
    event, verified = verified_event(payload)
    received_at = verified.custody.authenticated_at
    raw = RawRef(path=verified.path, sha256=verified.sha256)
    media = _checked_media(event, [media_outcome_from(m) for m in payload.get("media") or ()])
    record = build_record(
        event, raw=raw, received_at=received_at, media=media, custody=verified.custody
    )
    name = record_blob_name(event)
    records = blob_service().get_container_client(RECORDS_CONTAINER)
    outcome = write_record(records, name, record_bytes(record), str(record["fingerprint"]))
    if outcome.state == "stored":  # a retry finds it "duplicate": counted once
        telemetry.archived(record)
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
        # One call per table partition; a status's latest-status row rides in the
        # transaction of its by-message row (storage.index_writer).
        rows, _ = write_index(tables, record, outcome.path)
    for item in media:
        if item.state == "unavailable":
            if outcome.state == "stored":
                telemetry.media_gap(event.provider, item.reason)
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
    log.info(
        "record %s fingerprint=%s index_rows=%d", outcome.state, record["fingerprint"], rows
    )
    result: dict[str, Any] = {"state": outcome.state, "path": outcome.path, "index_rows": rows}
    if outcome.state != "conflict":  # the first version is the one indexed and flagged
        flags = _lexicon_flags(record, outcome.path)
        if flags is not None:
            result["flags"] = flags
    holds = _legal_holds(record, outcome.path)
    if holds is not None:
        result["holds"] = holds
    return result


def _lexicon_flags(record: dict[str, Any], path: str) -> dict[str, Any] | None:
    """Flag the record if the active lexicon policy hits it (issue 16).

    No storage call while the policy cache is fresh and nothing hits; one create per
    flagged record. A duplicate (a retry) flags too: the row key is deterministic. A
    failure raises and the activity retries; the record is already stored create-only.
    Counts only, here and in the log: hits are message content.
    """
    policy = shared_policy_cache(
        lambda: blob_service().get_container_client(AUDIT_CONTAINER)).active()
    if policy is None:
        return None
    flagged = flag_record(table_service(), policy, record, path, source="archive",
                          now=datetime.now(UTC))
    if flagged is None:
        return None
    log.info("lexicon flag version=%d rules=%d hits=%d",
             flagged["version"], flagged["rules"], flagged["hits"])
    return {"version": flagged["version"], "rules": flagged["rules"]}


def _legal_holds(record: dict[str, Any], path: str) -> dict[str, Any] | None:
    """Legal-hold what was just written if an in-force matter covers it (issue 11).

    No storage call while the cache is fresh and no matter covers the record. A failure
    (Holds table unreadable, a hold not set) raises: the activity retries, and a record
    is never archived under a matter without its hold.
    """
    covering = matters_covering(record, shared_cache(retention_table_service).in_force())
    if not covering:
        return None
    holds = hold_written(retention_blob_service(), record, path, covering)
    log.info("legal hold matters=%d result=%s", len(covering), holds["result"])
    return holds


def note_record_failure(payload: dict[str, Any]) -> dict[str, Any]:
    """store_record gave up: list why, so no event fails silently.

    A custody failure (the input is not backed by a verified raw body) is quarantined:
    the input itself (ids and pointers only) is kept as evidence. Anything else is a
    `record_failed` row that a replay can clear.
    """
    reason = str(payload.get("reason") or "store_record failed")
    attempted = payload.get("input") or {}
    now = datetime.now(UTC)
    detail = {"instance_id": payload.get("instance_id"), "raw": attempted.get("raw")}
    if reason.startswith("custody:"):
        data = canonical_json(attempted)
        path = quarantine(blob_service(), table_service(), data, reason=reason,
                          origin="orchestration-input", at=now, detail=detail)
        return {"kind": "quarantined", "path": path}
    ref = f"{payload.get('instance_id')}"
    write_failure(
        table_service(),
        failure_entity("record_failed", day=day_key(now), ref=ref, reason=reason, detail=detail),
    )
    log.error("record failed instance=%s", payload.get("instance_id"))
    return {"kind": "record_failed", "ref": ref}


def media_event(payload: dict[str, Any]) -> CanonicalEvent:
    """The event whose media an attempt fetches: re-derived from its verified raw body.

    A provider's fetcher may need more than the content-free skeleton Durable history
    carries (WASender's mediaKey and URL live in the message itself), and a pointer that
    no signed body backs must not choose what is downloaded. So, as store_record does,
    the event comes from the raw body the input points at (archive_event and
    refetch_media both pass it). Instances scheduled before the pointer was added still
    carry only the skeleton, which is enough for Meta's id-based lookup.
    """
    if payload.get("raw") is not None and payload.get("event_ref") is not None:
        event, _ = verified_event(payload)
        return event
    return CanonicalEvent.from_dict(payload["event"])


def _fetch(event: CanonicalEvent, ref: MediaRef) -> StoredMedia:
    """One attempt with the event provider's fetcher (imported at use: one per provider)."""
    container = blob_service().get_container_client(MEDIA_CONTAINER)

    def blob_name_for(mime: str | None) -> str:
        # Unprefixed: the fetcher moves a small item under `small/` once it counts the bytes.
        return media_blob_name(event, ref, mime)

    max_bytes = settings.max_media_bytes()
    allowlist = settings.media_host_allowlist(event.provider)
    if event.provider == "wasender":
        from storage.media_wasender import fetch_wasender_media

        return fetch_wasender_media(container, event, ref, blob_name_for=blob_name_for,
                                    max_bytes=max_bytes, allowlist=allowlist)
    if event.provider == "twilio":
        from storage.media_twilio import fetch_twilio_media

        return fetch_twilio_media(container, event, ref, blob_name_for=blob_name_for,
                                  max_bytes=max_bytes, allowlist=allowlist)
    if event.provider == "acs":
        from storage.media_acs import fetch_acs_media

        return fetch_acs_media(container, event, ref, blob_name_for=blob_name_for,
                               max_bytes=max_bytes, allowlist=allowlist)
    # Meta, and outbound captures (sent through Meta's Cloud API, so Meta media ids).
    return fetch_media(
        container,
        graph_url=settings.graph_url(),
        token=settings.access_token(),
        media_id=ref.media_id,
        provider_sha256=ref.provider_sha256,
        blob_name_for=blob_name_for,
        fallback_mime=ref.mime_type,
        max_bytes=max_bytes,
        allowlist=allowlist,
    )


def fetch_media_item(payload: dict[str, Any]) -> dict[str, Any]:
    """One attempt to fetch media item `media_index` of the event; raises to retry."""
    event = media_event(payload)
    ref = event.media[int(payload["media_index"])]
    stored = _fetch(event, ref)
    telemetry.media_stored(event.provider, stored.size)
    log.info("media stored provider=%s size=%d sha256=%s",
             event.provider, stored.size, stored.sha256)
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
