"""Everything that did not archive cleanly: poison messages and the failures index table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from admin.connection import Archive
from admin.poison import peek_poison
from archive.index import FailureKind
from archive.names import TABLE_FAILURES

FAILURE_KINDS: tuple[FailureKind, ...] = (
    "media_unavailable",
    "conflict",
    "unparseable",
    "webhook_error",
)


@dataclass(frozen=True)
class Failure:
    kind: str  # poison or one of FAILURE_KINDS
    ref: str  # poison: queue message id; else the failure row's ref (a blob path)
    day: str | None
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
            )
            for row in page.rows
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
