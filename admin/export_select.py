"""What an export covers: the scope (given, or a legal hold's), and the records in it.

The selection is the index rows in scope (storage.scope_reader), reduced to what the
export needs and sorted by provider time. It is saved in the staging folder, so a
resumed export produces exactly what the interrupted one set out to (records that
arrived in between wait for the next export).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admin.connection import AdminError, Archive
from archive.scope import Scope
from storage.scope_reader import index_rows_in_scope


@dataclass(frozen=True)
class Selected:
    record_path: str
    timestamp: str
    event: str
    message_id: str
    status: str | None

    def to_json(self) -> str:
        return json.dumps([self.record_path, self.timestamp, self.event, self.message_id,
                           self.status])

    @classmethod
    def from_json(cls, line: str) -> Selected:
        path, ts, event, message_id, status = json.loads(line)
        return cls(str(path), str(ts), str(event), str(message_id),
                   None if status is None else str(status))

    def row(self) -> dict[str, Any]:
        return {"event": self.event, "message_id": self.message_id,
                "timestamp": self.timestamp, "status": self.status}


def matter_scope(archive: Archive, matter_id: str) -> Scope:
    """The scope of legal-hold matter `matter_id` (exports what the hold preserves)."""
    from storage.holds import HoldStore  # the hold feature's store, only when asked for

    matter = archive.call("table", f"read legal hold {matter_id}",
                          lambda: HoldStore(archive.tables).get(matter_id))
    if matter is None:
        raise AdminError(f"no legal hold matter {matter_id!r} (see `wa-archive hold list`)")
    scope = matter.scope
    if not isinstance(scope, Scope):
        raise AdminError(f"legal hold {matter_id!r} has no scope")
    return scope


def select(archive: Archive, scope: Scope) -> list[Selected]:
    def rows() -> list[Selected]:
        found = [Selected(str(r["record_path"]), str(r.get("timestamp") or ""),
                          str(r.get("event") or ""), str(r.get("message_id") or ""),
                          None if r.get("status") is None else str(r.get("status")))
                 for r in index_rows_in_scope(archive.tables, scope)]
        return sorted(found, key=lambda s: (s.timestamp, s.record_path))

    return archive.call("table", "read the index for the export's scope", rows)


def save_selection(path: Path, selection: list[Selected]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for item in selection:
            handle.write(item.to_json() + "\n")
    tmp.replace(path)


def load_selection(path: Path) -> list[Selected] | None:
    try:
        with path.open(encoding="utf-8") as handle:
            return [Selected.from_json(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return None


def iter_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle
