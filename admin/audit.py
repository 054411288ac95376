"""The admin audit trail: create-only JSON blobs in `audit`, written around every action.

Names are `year=YYYY/month=MM/day=DD/<UTC time>-<random>.json`, so Storage Explorer
lists a day's actions in time order and an entry is never overwritten.

An action is audited in phases (`audited`): an `intent` entry before any side
effect (if it cannot be written, the action does not run), an `item` entry before
each item of a batch (each poison message, orchestration, media gap replayed), and an
`outcome` entry written in a `finally`, so an error or an interrupt (Ctrl-C) still
leaves one. `when` is the client's clock; `service_time` is the blob's creation time
as the Storage service recorded it, which the client cannot set.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from admin.connection import AdminError, Archive
from admin.identity import os_user
from archive.names import AUDIT_CONTAINER

AUDIT_SCHEMA = "wa-archive/audit@1"
_MAX_RESULT_CHARS = 500


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
    service_time: datetime | None = None  # when Storage created the blob


def _create(container: ContainerClient, name: str, data: bytes) -> datetime | None:
    """Create-only (If-None-Match: *); the service's time from the create response."""
    # The sha256 rides in the create call, so the daily seal lists instead of downloading.
    response = container.get_blob_client(name).upload_blob(
        data, overwrite=False, content_settings=ContentSettings(content_type="application/json"),
        metadata={"sha256": hashlib.sha256(data).hexdigest()},
    )
    stamp = response.get("last_modified") if isinstance(response, dict) else None
    return stamp if isinstance(stamp, datetime) else None


def record_action(
    archive: Archive,
    action: str,
    target: dict[str, Any],
    result: str,
    *,
    when: datetime | None = None,
    actor: str | None = None,
    phase: str | None = None,
    intent: AuditEntry | None = None,
) -> AuditEntry:
    """Append one audit entry. Targets hold ids and query facets, never message content."""
    when = when or datetime.now(UTC)
    entry: dict[str, Any] = {
        "schema": AUDIT_SCHEMA,
        "who": actor or who(archive),
        "when": when.astimezone(UTC).isoformat(),
        "action": action,
        "target": target,
        "result": result[:_MAX_RESULT_CHARS],
        "account": archive.target.label,
    }
    if phase:
        entry["phase"] = phase
    if intent is not None:
        entry["intent"] = intent.name
        if intent.service_time is not None:
            entry["intent_service_time"] = intent.service_time.isoformat()
    name = audit_blob_name(when)
    data = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode("utf-8")
    container = archive.container(AUDIT_CONTAINER)
    created = archive.call(
        "blob", f"append to the '{AUDIT_CONTAINER}' container",
        lambda: _create(container, name, data),
    )
    return AuditEntry(name=name, entry=entry, service_time=created)


@dataclass
class AuditedAction:
    """One action in progress: set `result` (and add to `target`) before it ends."""

    archive: Archive
    action: str
    target: dict[str, Any]
    intent: AuditEntry
    actor: str
    result: str = "ok"
    items: list[AuditEntry] = field(default_factory=list)

    def item(self, kind: str, item_id: str) -> None:
        """The per-item entry, written before that item's side effect."""
        self.items.append(record_action(
            self.archive, f"{self.action}_item", {"kind": kind, "id": item_id}, "started",
            actor=self.actor, phase="item", intent=self.intent,
        ))


def _ended(error: BaseException) -> str:
    if isinstance(error, AdminError):
        return f"error: {error}"
    if isinstance(error, Exception):
        return f"error: {type(error).__name__}: {error}"
    return f"interrupted: {type(error).__name__}"  # KeyboardInterrupt, SystemExit, ...


@contextmanager
def audited(archive: Archive, action: str, target: dict[str, Any]) -> Iterator[AuditedAction]:
    """Intent before the block, outcome after it, whatever way the block ends."""
    actor = who(archive)
    intent = record_action(archive, action, dict(target), "started", actor=actor,
                           phase="intent")
    run = AuditedAction(archive, action, target, intent, actor)
    failure: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        failure = exc
        run.result = _ended(exc)
        raise
    finally:
        try:
            record_action(archive, action, run.target, run.result, actor=actor,
                          phase="outcome", intent=intent)
        except Exception:
            # With the action's own error on its way out, that error is the one to
            # show; the intent entry already names the action.
            if failure is None:
                raise


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

        def listing(prefix: str = prefix) -> dict[str, datetime | None]:
            return {b.name: b.creation_time
                    for b in container.list_blobs(name_starts_with=prefix)}

        try:
            created = archive.call(
                "blob", f"list the '{AUDIT_CONTAINER}' container", listing
            )
        except ResourceNotFoundError:
            return []
        day_names = sorted(created, reverse=True)
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
            entries.append(AuditEntry(
                name=name, entry=value if isinstance(value, dict) else {},
                service_time=created.get(name),
            ))
    return entries
