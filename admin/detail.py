"""Everything about one message: its records, status timeline, media and evidence."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import AdminError, Archive
from archive.index import LATEST_STATUS_ROW, STATUS_RANK
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER


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
    main = next((e for e in events if e.get("event") != "status"), None) or (
        events[0] if events else None
    )
    record_path = str(main["record_path"]) if main and main.get("record_path") else None
    record = _read_record(archive, record_path) if record_path else None
    media = [_media_state(archive, m) for m in (record or {}).get("media") or ()]
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
    )
