"""Everything about one message: its records, status timeline, media and evidence.

A WhatsApp call (issue #19) is shown the same way under its call id: every call event
(connect, status, terminate) in provider-time order with its status, times, duration and
errors, and the latest call state. Records of any age read here, including the
``system`` / ``field:calls`` records written before calls were first-class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import AdminError, Archive
from archive.events import CALL_EVENT, call_facts
from archive.index import LATEST_STATUS_ROW, STATUS_RANK, call_state_rank
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.outbound import main_record


@dataclass(frozen=True)
class MessageDetail:
    message_id: str
    record: dict[str, Any] | None  # the message event's canonical record (None: statuses only)
    record_path: str | None
    events: list[dict[str, Any]]  # every index row of the message (edits, reactions, ...)
    timeline: list[dict[str, Any]]  # statuses ordered by provider timestamp
    latest_status: str | None
    media: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] | None = None
    urls: dict[str, str] = field(default_factory=dict)
    # A call: each call event in provider-time order (empty for a message).
    call_timeline: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _read_record(archive: Archive, path: str) -> dict[str, Any]:
    container = archive.container(RECORDS_CONTAINER)
    data = archive.call(
        "blob", f"read record {path}", lambda: container.download_blob(path).readall()
    )
    value = json.loads(data)
    return value if isinstance(value, dict) else {}


def _media_state(archive: Archive, item: dict[str, Any]) -> dict[str, Any]:
    info = {
        "media_id": item.get("media_id"),
        "state": item.get("state"),
        "mime_type": item.get("mime_type") or item.get("provider_mime_type"),
        "size": item.get("size"),
        "sha256": item.get("sha256"),
        "blob_path": item.get("blob_path"),
        "reason": item.get("reason"),
        "recovery_path": item.get("recovery_path"),
        "access_tier": None,
        "url": None,
    }
    path = item.get("blob_path")
    if isinstance(path, str) and path:
        blob = archive.container(MEDIA_CONTAINER).get_blob_client(path)
        info["url"] = blob.url
        try:
            props = archive.call("blob", f"read media properties {path}", blob.get_blob_properties)
        except ResourceNotFoundError:
            info["state"] = f"{item.get('state')} (blob missing)"
        else:
            info["access_tier"] = props.blob_tier
            info["size"] = info["size"] or props.size
    return info


def _recoveries(archive: Archive, record_path: str) -> dict[str, dict[str, Any]]:
    """Media recovered after the record was written: addenda beside it, by media id."""
    stem = record_path[: -len(".json")] if record_path.endswith(".json") else record_path
    container = archive.container(RECORDS_CONTAINER)
    names = archive.call(
        "blob", f"list addenda of {record_path}",
        lambda: [b.name for b in container.list_blobs(name_starts_with=f"{stem}.media-")],
    )
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        addendum = _read_record(archive, name)
        media = addendum.get("media")
        if isinstance(media, dict) and media.get("media_id"):
            found[str(media["media_id"])] = {**media, "recovery_path": name}
    return found


def _with_recovery(item: dict[str, Any], recovered: dict[str, Any] | None) -> dict[str, Any]:
    if recovered is None or item.get("state") == "stored":
        return item
    # The record stays as written (immutable); the addendum says what was fetched later.
    return {**item, "state": "recovered", "blob_path": recovered.get("blob_path"),
            "sha256": recovered.get("sha256"), "size": recovered.get("size"),
            "mime_type": recovered.get("mime_type") or item.get("mime_type"),
            "recovery_path": recovered["recovery_path"]}


def _call_entry(row: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    call = call_facts((record or {}).get("content"))
    errors = call.get("errors")
    return {
        "timestamp": row.get("timestamp"),
        "event": call.get("event"),
        "status": call.get("status"),
        "state": row.get("status"),
        "direction": call.get("direction"),
        "start_time": call.get("start_time"),
        "end_time": call.get("end_time"),
        "duration": call.get("duration"),
        "errors": errors if isinstance(errors, list) else [],
        "record_path": row.get("record_path"),
    }


def _call_timeline(
    events: list[dict[str, Any]], read: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """Every call event, by provider time; in one second by call-state rank."""
    entries = [
        _call_entry(e, read(e) if e.get("record_path") else None)
        for e in events if e.get("event") == CALL_EVENT
    ]
    entries.sort(key=lambda c: (str(c.get("timestamp") or ""),
                                call_state_rank(c.get("event"), c.get("status"))))
    return entries


def message_detail(archive: Archive, message_id: str) -> MessageDetail:
    rows = archive.call(
        "table", "read table IndexByMessage", lambda: archive.index.by_message(message_id)
    )
    if not rows:
        raise AdminError(f"message {message_id!r} is not in the index")
    latest = next((r for r in rows if r.get("RowKey") == LATEST_STATUS_ROW), None)
    events = [
        {k: v for k, v in r.items() if k not in ("PartitionKey", "RowKey")}
        for r in rows
        if r.get("RowKey") != LATEST_STATUS_ROW
    ]
    # Provider time orders the timeline (arrival order is meaningless); equal times by rank.
    events.sort(
        key=lambda r: (str(r.get("timestamp", "")), STATUS_RANK.get(str(r.get("status")), 0))
    )
    timeline = [
        {"status": e.get("status"), "timestamp": e.get("timestamp"),
         "record_path": e.get("record_path")}
        for e in events
        if e.get("event") == "status"
    ]
    # One read per record: a call's events are read for its timeline and its summary.
    cache: dict[str, dict[str, Any]] = {}

    def read(e: dict[str, Any]) -> dict[str, Any] | None:
        path = e.get("record_path")
        if not path:
            return None
        if str(path) not in cache:
            cache[str(path)] = _read_record(archive, str(path))
        return cache[str(path)]

    call_timeline = _call_timeline(events, read)
    # A provider-signed record outranks a capture reusing its wamid (issue 21.2).
    candidates = [e for e in events if e.get("event") != "status"] or events[:1]
    chosen = main_record(candidates, read)
    main, found = chosen if chosen else (None, None)
    record_path = str(main["record_path"]) if main and main.get("record_path") else None
    record = dict(found) if found is not None else None
    items = list((record or {}).get("media") or ())
    recovered = _recoveries(archive, record_path) if record_path and items else {}
    media = [
        _media_state(archive, _with_recovery(m, recovered.get(str(m.get("media_id")))))
        for m in items
    ]
    raw = (record or {}).get("raw")
    urls: dict[str, str] = {}
    if record_path:
        urls["record"] = archive.container(RECORDS_CONTAINER).get_blob_client(record_path).url
    if isinstance(raw, dict) and raw.get("path"):
        urls["raw"] = archive.container(RAW_CONTAINER).get_blob_client(str(raw["path"])).url
    return MessageDetail(
        message_id=message_id,
        record=record,
        record_path=record_path,
        events=events,
        timeline=timeline,
        latest_status=str(latest["status"]) if latest and latest.get("status") else None,
        media=media,
        raw=raw if isinstance(raw, dict) else None,
        urls=urls,
        call_timeline=call_timeline,
    )
