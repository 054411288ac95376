"""The admin audit trail: one create-only JSON blob per action or view, in `audit`.

Names are `year=YYYY/month=MM/day=DD/<UTC time>-<random>.json`, so Storage Explorer
lists a day's actions in time order and an entry is never overwritten.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import Archive
from archive.names import AUDIT_CONTAINER
from storage.blobs import create_only

AUDIT_SCHEMA = "wa-archive/audit@1"


def who() -> str:
    """The acting person: the OS user locally (the CLI and TUI have no other identity)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"


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
        "who": actor or who(),
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
