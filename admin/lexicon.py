"""Lexicon policies for the CLI (and later the TUI): set, show, versions, backfill. Audited.

Versions live in the `audit` container (storage.lexicon_store), written under the admin's
own identity with the Audit Appender role, so the app itself cannot forge a policy. Every
action writes its audit intent first (admin.audit.audited); the targets name version
numbers, sha256 and days, never message content.

A backfill runs in the Function App as the `lexicon_backfill` orchestration, started and
watched through the Durable HTTP API (admin.durable_api), like `replay` restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from admin.audit import audited, who
from admin.connection import AdminError, Archive
from admin.durable_api import DurableApi
from archive.lexicon import Policy
from archive.names import AUDIT_CONTAINER
from storage import lexicon_store as store
from storage.flags import BACKFILL_ORCHESTRATOR, backfill_input, backfill_instance_id
from storage.lexicon_store import (
    PIPELINE_DELAY_SECONDS,
    LexiconStoreError,
    PolicyVersion,
    VersionNotFoundError,
)

__all__ = [
    "PIPELINE_DELAY_SECONDS", "BackfillStart", "LexiconStoreError", "PolicyVersion",
    "VersionNotFoundError", "list_versions", "set_policy", "show_policy", "start_backfill",
    "wait_backfill",
]

RUNNING = frozenset({"Running", "Pending", "ContinuedAsNew"})
ENDED_BADLY = frozenset({"Failed", "Terminated", "Canceled"})
MISSING_SECONDS = 60.0


def set_policy(archive: Archive, policy: Policy, *, now: datetime | None = None
               ) -> tuple[PolicyVersion, bool]:
    """Store ``policy`` as the next version unless the active one is identical."""
    target = {"name": policy.name, "sha256": policy.sha256, "rules": len(policy.rules)}
    with audited(archive, "lexicon_set", target) as run:
        container = archive.container(AUDIT_CONTAINER)
        version, changed = archive.call(
            "blob", f"store a policy version in '{AUDIT_CONTAINER}'",
            lambda: store.set_policy(container, policy, who(archive), now or datetime.now(UTC)))
        run.target["version"] = version.version
        run.result = f"ok: version {version.version} " + ("set" if changed else "unchanged")
    return version, changed


def show_policy(archive: Archive, version: int | None = None) -> PolicyVersion:
    """Version ``version``, or the active one; LexiconStoreError if it does not check out."""
    with audited(archive, "lexicon_show", {"version": version}) as run:
        container = archive.container(AUDIT_CONTAINER)
        if version is None:
            found = archive.call("blob", "read the active lexicon policy",
                                 lambda: store.active(container))
            if found is None:
                raise VersionNotFoundError("no lexicon policy has been set "
                                           "(`wa-archive lexicon set FILE`)")
        else:
            found = archive.call("blob", f"read lexicon policy version {version}",
                                 lambda: store.read_version(container, version))
        run.result = f"ok: version {found.version}"
    return found


def list_versions(archive: Archive) -> list[PolicyVersion | LexiconStoreError]:
    """Every version, oldest first (an unusable one as its error)."""
    with audited(archive, "lexicon_versions", {}) as run:
        container = archive.container(AUDIT_CONTAINER)
        found = archive.call("blob", "list lexicon policy versions",
                             lambda: store.versions(container))
        run.result = f"ok: {len(found)} versions"
    return found


@dataclass(frozen=True)
class BackfillStart:
    instance_id: str
    version: PolicyVersion
    already_running: bool


def start_backfill(archive: Archive, durable: DurableApi, version: int, from_day: date,
                   to_day: date) -> BackfillStart:
    """Start (or find running) the backfill of ``version`` over the provider days.

    The version is read and checked first: a backfill of a version that does not exist
    or fails its sha256 check is refused here rather than failing in the Function App.
    """
    payload = backfill_input(version, from_day, to_day)
    instance_id = backfill_instance_id(version, from_day, to_day)
    target = {**payload, "instance_id": instance_id}
    with audited(archive, "lexicon_backfill", target) as run:
        container = archive.container(AUDIT_CONTAINER)
        found = archive.call("blob", f"read lexicon policy version {version}",
                             lambda: store.read_version(container, version))
        run.target["sha256"] = found.sha256
        current = durable.status(instance_id)
        running = current is not None and str(current.get("runtimeStatus")) in RUNNING
        if running:
            run.result = "ok: already running"
        else:
            # The start API replaces a finished instance: a re-run is harmless (flags are
            # create-if-absent) and picks up records archived since.
            durable.start(BACKFILL_ORCHESTRATOR, instance_id, payload)
            run.result = "ok: started"
    return BackfillStart(instance_id, found, running)


def wait_backfill(durable: DurableApi, instance_id: str,
                  progress: Callable[[dict[str, Any]], None] | None = None, *,
                  interval: float = 2.0, sleep: Callable[[float], None] = time.sleep
                  ) -> dict[str, Any]:
    """Poll until the instance ends; its last status. Raises AdminError if it failed."""
    missing = 0
    while True:
        status = durable.status(instance_id)
        if status is None:
            # Just started: the host may not have recorded it yet. Not for long, though.
            missing += 1
            if missing * interval > MISSING_SECONDS:
                raise AdminError(f"backfill {instance_id} is not known to the Durable API")
            sleep(interval)
            continue
        state = str(status.get("runtimeStatus") or "Pending")
        custom = status.get("customStatus")
        if progress is not None and isinstance(custom, dict):
            progress(custom)
        if state == "Completed":
            return status
        if state in ENDED_BADLY:
            output = status.get("output")
            reason = str(output).strip().splitlines()[0] if output else "no reason recorded"
            raise AdminError(f"backfill {instance_id} {state.lower()}: {reason[:300]}")
        sleep(interval)
