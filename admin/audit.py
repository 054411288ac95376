"""The admin audit trail: one create-only JSON blob per action or view, in `audit`.

Names are `year=YYYY/month=MM/day=DD/<UTC time>-<random>.json`, so Storage Explorer
lists a day's actions in time order and an entry is never overwritten.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import Archive
from admin.identity import os_user
from archive.names import AUDIT_CONTAINER
from storage.blobs import create_only

AUDIT_SCHEMA = "wa-archive/audit@1"


def who(archive: Archive | None = None) -> str:
    """The acting person: the signed-in identity with --account, else the OS user."""
    if archive is not None and archive.target.account_name:
        return archive.signed_in_identity or os_user()
    return os_user()


def audit_blob_name(when: datetime) -> str:
    when = when.astimezone(UTC)
    stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
    return (
        f"year={when:%Y}/month={when:%m}/day={when:%d}/{stamp}-{uuid.uuid4().hex[:12]}.json"
    )


@dataclass(frozen=True)
class AuditEntry:
    name: str
    entry: dict[str, Any]


def record_action(
    archive: Archive,
    action: str,
    target: dict[str, Any],
    result: str,
    *,
    when: datetime | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Append one audit entry. Targets hold ids and query facets, never message content."""
    when = when or datetime.now(UTC)
    entry = {
        "schema": AUDIT_SCHEMA,
        "who": actor or who(archive),
        "when": when.astimezone(UTC).isoformat(),
        "action": action,
        "target": target,
        "result": result,
        "account": archive.target.label,
    }
    name = audit_blob_name(when)
    data = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode("utf-8")
    container = archive.container(AUDIT_CONTAINER)
    archive.call(
        "blob", f"append to the '{AUDIT_CONTAINER}' container",
        lambda: create_only(container, name, data),
    )
    return AuditEntry(name=name, entry=entry)


def recent_entries(
    archive: Archive, *, days: int = 1, now: datetime | None = None, limit: int = 200
) -> list[AuditEntry]:
    """Entries of the last `days` days (one prefix listing per day), newest first."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    container = archive.container(AUDIT_CONTAINER)
    entries: list[AuditEntry] = []
    for offset in range(days):
        day = now - timedelta(days=offset)
        prefix = f"year={day:%Y}/month={day:%m}/day={day:%d}/"

        def names(prefix: str = prefix) -> list[str]:
            return sorted((b.name for b in container.list_blobs(name_starts_with=prefix)),
                          reverse=True)

        try:
            day_names = archive.call("blob", f"list the '{AUDIT_CONTAINER}' container", names)
        except ResourceNotFoundError:
            return []
        for name in day_names:
            if len(entries) >= limit:
                return entries
            data = archive.call(
                "blob", f"read audit entry {name}",
                lambda name=name: container.download_blob(name).readall(),  # type: ignore[misc]
            )
            try:
                value = json.loads(data)
            except ValueError:
                value = {"unreadable": True}
            entries.append(AuditEntry(name=name, entry=value if isinstance(value, dict) else {}))
    return entries
