"""Legal holds for the CLI and the TUI: place, release, resume, list, check. All audited.

Every action writes its audit intent before touching anything (admin.audit.audited),
and the outcome afterwards, interrupted or not. A hold binds from the moment its row
exists, so placing one first creates the row, then runs the apply job; an interrupted
job leaves the matter `applying` (still binding) and `wa-archive hold resume` finishes it.

The admin's own identity makes the calls here (DefaultAzureCredential with --account):
setting legal holds needs the rights docs/holds.md lists, which the pipeline gets
through its retention identity instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from admin.audit import audited, who
from admin.connection import Archive
from archive.holds import HoldError, matters_covering, new_matter
from archive.scope import Scope
from storage.hold_apply import SETTLE, BlobDecision, HoldJob
from storage.holds import HoldProgress, HoldRow, HoldStore, released

Progress = Callable[[HoldProgress, str], None]

# The TUI reaches storage only through admin/: what it needs of the hold types is here.
__all__ = [
    "SETTLE", "HoldProgress", "HoldRow", "Progress", "check_message", "hold_json",
    "list_holds", "place_hold", "release_hold", "resume_hold",
]


def hold_json(row: HoldRow) -> dict[str, Any]:
    """A matter for `--json` and the TUI: scope, who, when, why, state and job counts."""
    m = row.matter
    return {
        "matter": m.matter_id,
        "state": m.state,
        "in_force": m.in_force,
        "scope": m.scope.to_dict(),
        "scope_text": m.scope.describe(),
        "reason": m.reason,
        "placed_by": m.placed_by,
        "placed_at": m.placed_at.isoformat(),
        "released_by": m.released_by,
        "released_at": m.released_at.isoformat() if m.released_at else None,
        "progress": row.progress.to_dict(),
    }


def _outcome(row: HoldRow) -> str:
    p = row.progress
    return (f"ok: {row.matter.state}, {p.records_done} records, {p.blobs_held} held, "
            f"{p.blobs_released} released, {p.blobs_kept} kept, "
            f"{p.blobs_unsupported} without legal-hold support, {p.blobs_gone} gone")


def _job(archive: Archive, progress: Progress | None, wait: bool, settle: timedelta,
         on_blob: Callable[[BlobDecision], None] | None = None) -> HoldJob:
    return HoldJob(
        store=HoldStore(archive.tables), blobs=archive.blobs, tables=archive.tables,
        progress=progress, on_blob=on_blob, wait=wait, settle=settle,
    )


def list_holds(archive: Archive) -> list[HoldRow]:
    with audited(archive, "hold_list", {}) as run:
        rows = archive.call("table", "read the Holds table", HoldStore(archive.tables).rows)
        run.result = f"ok: {len(rows)} matters"
    return rows


def place_hold(
    archive: Archive, matter_id: str, scope: Scope, reason: str, *,
    progress: Progress | None = None, wait: bool = True, settle: timedelta = SETTLE,
    now: datetime | None = None, on_blob: Callable[[BlobDecision], None] | None = None,
) -> HoldRow:
    """Record the matter (binding from now on), then hold every blob version in scope."""
    matter = new_matter(matter_id, scope, reason, who(archive), now or datetime.now(UTC))
    target = {"matter": matter.matter_id, "scope": scope.to_dict(), "reason": matter.reason}
    with audited(archive, "hold_place", target) as run:
        store = HoldStore(archive.tables)
        archive.call("table", "add the matter to the Holds table", lambda: store.place(matter))
        run.result = "placed: applying"
        with archive.translate("blob", "set legal holds"):
            row = _job(archive, progress, wait, settle, on_blob).run(matter.matter_id)
        run.result = _outcome(row)
    return row


def release_hold(
    archive: Archive, matter_id: str, *, progress: Progress | None = None, wait: bool = True,
    settle: timedelta = SETTLE, now: datetime | None = None,
    on_blob: Callable[[BlobDecision], None] | None = None,
) -> HoldRow:
    """Stop the matter binding, then clear legal holds no other in-force matter needs."""
    with audited(archive, "hold_release", {"matter": matter_id}) as run:
        store = HoldStore(archive.tables)
        row = archive.call("table", "read the Holds table", lambda: store.row(matter_id))
        if row is None:
            raise HoldError(f"no matter {matter_id}")
        if row.matter.state == "released":
            run.result = "ok: already released"
            return row
        if row.matter.state != "releasing":
            releasing = released(row.matter, who(archive), now or datetime.now(UTC))
            # The release is a new phase: its counts and cursor start afresh.
            current = row
            row = archive.call("table", "update the Holds table", lambda: store.update(
                current, matter=releasing, progress=HoldProgress()))
        with archive.translate("blob", "clear legal holds"):
            row = _job(archive, progress, wait, settle, on_blob).run(matter_id)
        run.result = _outcome(row)
    return row


def resume_hold(
    archive: Archive, matter_id: str, *, progress: Progress | None = None, wait: bool = True,
    settle: timedelta = SETTLE, on_blob: Callable[[BlobDecision], None] | None = None,
) -> HoldRow:
    """Finish an interrupted apply or release (or re-apply an active matter)."""
    with audited(archive, "hold_resume", {"matter": matter_id}) as run:
        with archive.translate("blob", "set legal holds"):
            row = _job(archive, progress, wait, settle, on_blob).run(matter_id)
        run.result = _outcome(row)
    return row


def check_message(archive: Archive, message_id: str) -> list[dict[str, Any]]:
    """Each record of a message, and the in-force matters that hold it (the Holds table's
    answer, which is what counts where the account has no legal holds, e.g. Azurite)."""
    with audited(archive, "hold_check", {"message_id": message_id}) as run:
        matters = archive.call("table", "read the Holds table",
                               HoldStore(archive.tables).in_force)
        rows = archive.call("table", "read the index",
                            lambda: archive.index.by_message(message_id))
        found = [
            {"record_path": r["record_path"], "event": r.get("event"),
             "timestamp": r.get("timestamp"), "matters": matters_covering(r, matters)}
            for r in rows if r.get("record_path") and "event" in r
        ]
        run.result = f"ok: {sum(1 for f in found if f['matters'])} of {len(found)} held"
    return found

