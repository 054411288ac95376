"""The Holds table: one row per legal-hold matter, and a process-wide cache of the binding ones.

Row: PartitionKey `matter`, RowKey the matter id (validated safe as a key). The scope is
stored flat (`scope_participant`, `scope_start`, ...), so Storage Explorer shows it
readably. Progress of the apply/release job (`records_done`, `blobs_held`, ...) and its
resume point (`cursor`, the last record finished) live in the same row; every change
after creation is ETag-guarded, so two admins (or a resumed run racing an old one)
cannot silently overwrite each other.

The pipeline asks `HoldCache.in_force()` for every event: with a fresh cache that costs
no storage call, so archiving pays nothing for holds until a matter is in force.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableServiceClient, UpdateMode

from archive.holds import HoldError, Matter, MatterState
from archive.names import SETTING_HOLD_CACHE_SECONDS, TABLE_HOLDS
from archive.scope import Scope

log = logging.getLogger("wa_archive.holds")

PARTITION = "matter"
_SCOPE_PREFIX = "scope_"
# How long a process trusts its list of in-force matters. The issue promises a hold
# binds new events within a minute of being placed, so this may be lowered, never raised.
CACHE_TTL_SECONDS = 60.0
# Setting that lowers the TTL (seconds, 1..60); tests and devhost use a few seconds.
_PROGRESS_FIELDS = (
    "records_done", "blobs_held", "blobs_released", "blobs_kept", "blobs_unsupported",
    "blobs_gone",
)


@dataclass(frozen=True)
class HoldProgress:
    """Counts of the apply or release job so far, and where a resumed run picks up."""

    records_done: int = 0
    blobs_held: int = 0  # version-level legal holds set (or found set)
    blobs_released: int = 0  # legal holds cleared
    blobs_kept: int = 0  # left held on release: another in-force matter covers them
    blobs_unsupported: int = 0  # no legal hold in this account (Azurite): the table protects
    blobs_gone: int = 0  # a version listed but gone by the time it was held
    cursor: str = ""  # record_path of the last record fully done ("" = from the start)
    passes: int = 0  # full passes over the scope completed in this phase

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*_PROGRESS_FIELDS, "cursor", "passes")}


@dataclass(frozen=True)
class HoldRow:
    """A matter as stored, with its job progress and the ETag the next update must match."""

    matter: Matter
    progress: HoldProgress = field(default_factory=HoldProgress)
    etag: str = ""


def _entity(matter: Matter) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": matter.matter_id,
        "reason": matter.reason,
        "placed_by": matter.placed_by,
        "placed_at": matter.placed_at.astimezone(UTC),
        "state": matter.state,
        "scope_kind": matter.scope.kind,
    }
    for key, value in matter.scope.to_dict().items():
        entity[_SCOPE_PREFIX + key] = value
    if matter.released_by:
        entity["released_by"] = matter.released_by
    if matter.released_at:
        entity["released_at"] = matter.released_at.astimezone(UTC)
    return entity


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row(entity: Mapping[str, Any]) -> HoldRow:
    scope = Scope.from_dict(
        {k[len(_SCOPE_PREFIX):]: v for k, v in entity.items() if k.startswith(_SCOPE_PREFIX)}
    )
    placed_at = _aware(entity.get("placed_at"))
    if placed_at is None:
        raise HoldError(f"matter {entity.get('RowKey')!r} has no placed_at")
    matter = Matter(
        matter_id=str(entity["RowKey"]),
        scope=scope,
        reason=str(entity.get("reason", "")),
        placed_by=str(entity.get("placed_by", "")),
        placed_at=placed_at,
        state=cast(MatterState, str(entity.get("state", ""))),
        released_by=entity.get("released_by") or None,
        released_at=_aware(entity.get("released_at")),
    )
    progress = HoldProgress(
        **{name: int(entity.get(name) or 0) for name in (*_PROGRESS_FIELDS, "passes")},
        cursor=str(entity.get("cursor") or ""),
    )
    metadata = getattr(entity, "metadata", None) or {}
    return HoldRow(matter, progress, str(metadata.get("etag", "")))


class HoldStore:
    """The Holds table. State changes and checkpoints go through `update` (ETag-guarded)."""

    def __init__(self, tables: TableServiceClient) -> None:
        self._table = tables.get_table_client(TABLE_HOLDS)

    def place(self, matter: Matter) -> None:
        """Create-only: a matter id is never reused, not even after its release."""
        try:
            self._table.create_entity(_entity(matter))
        except ResourceExistsError:
            raise HoldError(f"matter {matter.matter_id} already exists") from None

    def row(self, matter_id: str) -> HoldRow | None:
        try:
            entity = self._table.get_entity(PARTITION, matter_id)
        except ResourceNotFoundError:
            return None
        return _row(entity)

    def get(self, matter_id: str) -> Matter | None:
        found = self.row(matter_id)
        return found.matter if found else None

    def rows(self) -> list[HoldRow]:
        try:
            entities = list(self._table.query_entities(f"PartitionKey eq '{PARTITION}'"))
        except ResourceNotFoundError:
            # No Holds table (an account provisioned before issue 11): no matter was
            # ever placed, since placing one needs the table.
            return []
        return sorted((_row(e) for e in entities), key=lambda r: r.matter.placed_at)

    def all(self) -> list[Matter]:
        return [r.matter for r in self.rows()]

    def in_force(self) -> list[Matter]:
        return [m for m in self.all() if m.in_force]

    def update(
        self, row: HoldRow, *, matter: Matter | None = None,
        progress: HoldProgress | None = None,
    ) -> HoldRow:
        """Write a new state and/or progress, only if nobody changed the row since `row`."""
        new_matter = matter or row.matter
        new_progress = progress or row.progress
        if new_matter.matter_id != row.matter.matter_id:
            raise HoldError("a matter's id never changes")
        entity = {**_entity(new_matter), **new_progress.to_dict()}
        try:
            response = self._table.update_entity(
                entity, mode=UpdateMode.MERGE, etag=row.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise HoldError(
                f"matter {row.matter.matter_id} was changed by another run; try again"
            ) from None
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise HoldError(
                    f"matter {row.matter.matter_id} was changed by another run; try again"
                ) from None
            raise
        etag = str((response or {}).get("etag", ""))
        return HoldRow(new_matter, new_progress, etag)


def cache_ttl(environ: Mapping[str, str] | None = None) -> float:
    """The TTL from HOLD_CACHE_SECONDS, within 1..60 s (default 60)."""
    value = (environ if environ is not None else os.environ).get(SETTING_HOLD_CACHE_SECONDS, "")
    try:
        seconds = float(value) if value.strip() else CACHE_TTL_SECONDS
    except ValueError:
        seconds = CACHE_TTL_SECONDS
    return min(max(seconds, 1.0), CACHE_TTL_SECONDS)


class HoldCache:
    """In-force matters, re-read from the Holds table at most once per TTL.

    A failed refresh raises (the caller's activity retries): deciding "no hold" because
    the table was unreachable would archive a held record without its hold.
    """

    def __init__(
        self, load: Callable[[], list[Matter]], *, ttl: float = CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._matters: list[Matter] = []
        self._loaded_at: float | None = None

    def in_force(self) -> list[Matter]:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self._ttl:
                self._matters = [m for m in self._load() if m.in_force]
                self._loaded_at = now
            return list(self._matters)

    def invalidate(self) -> None:
        """Forget the list (this process placed or released a matter itself)."""
        with self._lock:
            self._loaded_at = None


_shared: HoldCache | None = None
_shared_lock = threading.Lock()


def shared_cache(tables: Callable[[], TableServiceClient]) -> HoldCache:
    """The process-wide cache; `tables` builds the retention identity's table client."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = HoldCache(lambda: HoldStore(tables()).in_force(), ttl=cache_ttl())
        return _shared


def reset_shared_cache() -> None:
    """For tests that change the Holds table under a long-lived process."""
    global _shared
    with _shared_lock:
        _shared = None


def released(matter: Matter, by: str, at: datetime) -> Matter:
    """The matter as its release starts: no longer binding, who and when recorded."""
    return replace(matter, state="releasing", released_by=by, released_at=at.astimezone(UTC))
