"""Everything that did not archive cleanly: poison messages, unsuccessful orchestrations
and the failures index table.

The failures table has one partition per kind; the kinds listed are every value of
archive.index.FailureKind, so a kind the pipeline adds is listed without a change here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import AdminError, Archive
from admin.durable_api import DurableApi
from admin.poison import peek_poison
from archive.index import FailureKind
from archive.names import TABLE_FAILURES

ORCHESTRATION_KIND = "orchestration"
DEFAULT_WINDOW_DAYS = 30  # how far back unsuccessful orchestrations are listed
FAILURE_KINDS: tuple[str, ...] = get_args(FailureKind)
DEADLETTER_KIND = "deadletter"
# What an admin reads for each kind; an unknown kind reads as its name.
KIND_LABELS = {
    "poison": "poison",
    "media_unavailable": "media gap",
    "conflict": "conflict",
    "unparseable": "unparseable",
    "webhook_error": "webhook error",
    "quarantined": "quarantined",  # failed re-verification: kept, never archived
    DEADLETTER_KIND: "dead letter",  # a poison message drained to `deadletter`
    "reconcile_missing": "raw w/o records",
    "record_failed": "record failed",
}

REPLAYABLE = ("poison", ORCHESTRATION_KIND, "media_unavailable", DEADLETTER_KIND)


@dataclass(frozen=True)
class Failure:
    kind: str  # poison, orchestration or one of FAILURE_KINDS
    ref: str  # poison: queue message id; orchestration: instance id; else the row's ref
    day: str | None
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    row_key: str | None = None  # failures-table rows only

    @property
    def id(self) -> str:
        """What `wa-archive replay --id` takes: unique across the kinds."""
        if self.kind == "poison":
            return self.ref  # a queue message id, as before
        if self.kind == ORCHESTRATION_KIND:
            return f"{ORCHESTRATION_KIND}:{self.ref}"
        return f"{self.kind}:{self.row_key}"

    @property
    def label(self) -> str:
        if self.kind == ORCHESTRATION_KIND:
            return f"orchestration {str(self.detail.get('status') or 'failed').lower()}"
        return KIND_LABELS.get(self.kind, self.kind.replace("_", " "))

    @property
    def replayable(self) -> bool:
        return self.kind in REPLAYABLE

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, **asdict(self)}


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(str(row.get("detail") or "{}"))
    except ValueError:
        return {"unreadable_detail": True}
    return value if isinstance(value, dict) else {}


def index_failures(
    archive: Archive,
    kinds: tuple[str, ...] = FAILURE_KINDS,
    *,
    since_day: str | None = None,
    limit: int = 200,
    include_resolved: bool = False,
) -> list[Failure]:
    """Rows of the failures table: one partition per kind, so one range query each."""
    found: list[Failure] = []
    for kind in kinds:
        page = archive.call(
            "table", f"read table {TABLE_FAILURES}",
            lambda kind=kind: archive.index.failures(  # type: ignore[misc]
                kind, since_day=since_day, page_size=limit
            ),
        )
        found.extend(
            Failure(
                kind=kind,
                ref=str(row.get("ref", "")),
                day=str(row.get("day")) if row.get("day") else None,
                reason=str(row.get("reason", "")),
                detail=_detail(row),
                row_key=str(row.get("RowKey", "")),
            )
            for row in page.rows
            # A recovered media gap stays in the table as evidence, but is closed.
            if include_resolved or row.get("resolved") is not True
        )
    # Newest day first, as the admin reads them.
    found.sort(key=lambda f: f.day or "", reverse=True)
    return found


def failures(
    archive: Archive, *, since_day: str | None = None, limit: int = 200
) -> list[Failure]:
    poison = [
        Failure(
            kind="poison",
            ref=message.message_id,
            day=(message.inserted_on or "")[:10] or None,
            reason=message.reason(),
            detail=message.summary(),
        )
        for message in peek_poison(archive)
    ]
    return poison + index_failures(archive, since_day=since_day, limit=limit)


def orchestration_failures(
    durable: DurableApi,
    *,
    now: datetime | None = None,
    days: int = DEFAULT_WINDOW_DAYS,
    limit: int = 200,
) -> list[Failure]:
    """Failed, Terminated and Canceled orchestrations created in the last `days` days."""
    since = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=days)
    return [
        Failure(
            kind=ORCHESTRATION_KIND,
            ref=item.instance_id,
            day=item.created[:10] or None,
            reason=item.reason,
            detail={"name": item.name, "status": item.status, "created": item.created,
                    "last_updated": item.last_updated},
        )
        for item in durable.unsuccessful(since, limit=limit)
    ]


def open_failure(archive: Archive, kind: str, row_key: str, noun: str) -> dict[str, Any]:
    """One failures-table row that is still open; AdminError when missing or resolved."""
    table = archive.tables.get_table_client(TABLE_FAILURES)
    try:
        row = archive.call(
            "table", f"read table {TABLE_FAILURES}", lambda: table.get_entity(kind, row_key)
        )
    except ResourceNotFoundError:
        raise AdminError(f"no {noun} {kind}:{row_key}") from None
    if row.get("resolved") is True:
        where = row.get("resolution_path") or row.get("resolution") or "the failures table"
        raise AdminError(f"{noun} {kind}:{row_key} is already resolved (see {where})")
    return dict(row)
