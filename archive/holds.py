"""Legal-hold matters: what a hold is, which ones bind a record, what a valid one looks like.

Pure: the archive-time hold step, the hold apply/release job, the retention job and the
admin tools all decide "is this record held, and by which matters?" through
`matters_covering`, so the rule exists once.

A matter binds from the moment it is placed (`applying`), not only once every existing
blob has its Azure legal hold (`active`): a retention run or a new event in between must
already treat it as in force. It stops binding when its release starts (`releasing`), so
the release job can tell which blobs no other matter still covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from archive.events import CanonicalEvent
from archive.scope import Scope
from archive.timestamps import iso_utc, require_aware

MatterState = Literal["applying", "active", "releasing", "released"]
MATTER_STATES: tuple[str, ...] = get_args(MatterState)
IN_FORCE_STATES = frozenset({"applying", "active"})

# Matter ids are Table RowKeys and appear in blob tags/metadata nowhere; keep them short
# enough to read on a screen and well under the 1 KiB key limit.
MAX_MATTER_ID = 64
MAX_REASON = 1000
MAX_ACTOR = 256
_KEY_FORBIDDEN = frozenset("/\\#?")


class HoldError(ValueError):
    """An invalid matter, or a state change the matter's state does not allow."""


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)


def validate_matter_id(matter_id: str) -> str:
    """The id as given (stripped), or HoldError: it becomes a Table RowKey as is."""
    if not isinstance(matter_id, str):
        raise HoldError("a matter id must be text")
    value = matter_id.strip()
    if not value:
        raise HoldError("a matter id must not be empty")
    if len(value) > MAX_MATTER_ID:
        raise HoldError(f"a matter id may have at most {MAX_MATTER_ID} characters")
    if _has_control(value) or any(ch in _KEY_FORBIDDEN for ch in value):
        raise HoldError("a matter id must not contain / \\ # ? or control characters")
    return value


def validate_reason(reason: str) -> str:
    """The reason (stripped): required, so a hold is never placed without a why."""
    if not isinstance(reason, str) or not reason.strip():
        raise HoldError("a hold needs a reason")
    value = reason.strip()
    if len(value) > MAX_REASON:
        raise HoldError(f"a reason may have at most {MAX_REASON} characters")
    if _has_control(value.replace("\n", " ").replace("\t", " ")):
        raise HoldError("a reason must not contain control characters")
    return value


def validate_actor(actor: str, what: str) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise HoldError(f"{what} must name who acted")
    value = actor.strip()
    if len(value) > MAX_ACTOR or _has_control(value):
        raise HoldError(f"{what} is not a usable identity")
    return value


@dataclass(frozen=True)
class Matter:
    matter_id: str
    scope: Scope
    reason: str
    placed_by: str
    placed_at: datetime
    state: MatterState
    released_by: str | None = None
    released_at: datetime | None = None

    def __post_init__(self) -> None:
        validate_matter_id(self.matter_id)
        validate_reason(self.reason)
        validate_actor(self.placed_by, "placed_by")
        require_aware(self.placed_at, "placed_at")
        if self.state not in MATTER_STATES:
            raise HoldError(f"unknown matter state {self.state!r}")
        if self.released_at is not None:
            require_aware(self.released_at, "released_at")
        if self.state in ("releasing", "released") and not (
            self.released_by and self.released_at
        ):
            raise HoldError("a matter being released must say who released it and when")

    @property
    def in_force(self) -> bool:
        """True for applying and active: a hold binds from the moment it is placed."""
        return self.state in IN_FORCE_STATES


def new_matter(
    matter_id: str, scope: Scope, reason: str, placed_by: str, placed_at: datetime
) -> Matter:
    """A freshly placed matter (state `applying`), inputs validated and normalised."""
    return Matter(
        matter_id=validate_matter_id(matter_id),
        scope=scope,
        reason=validate_reason(reason),
        placed_by=validate_actor(placed_by, "placed_by"),
        placed_at=require_aware(placed_at, "placed_at"),
        state="applying",
    )


def matters_covering(record: Mapping[str, Any], matters: Iterable[Matter]) -> list[str]:
    """Ids of in-force matters whose scope covers the record (record@1 dict or index row)."""
    return sorted({m.matter_id for m in matters if m.in_force and m.scope.covers(record)})


def any_covers(records: Iterable[Mapping[str, Any]], matters: Iterable[Matter]) -> bool:
    """Does any in-force matter cover any of these records (e.g. a raw body's events)?"""
    binding = [m for m in matters if m.in_force]
    return any(m.scope.covers(r) for r in records for m in binding)


def event_view(event: CanonicalEvent) -> dict[str, Any]:
    """The fields `Scope.covers` reads, for an event re-derived from a raw body."""
    return {
        "message_id": event.message_id,
        "timestamp": iso_utc(event.timestamp),
        "from": event.sender,
        "to": event.recipient,
        "conversation": {"business_id": event.business_id, "customer_id": event.customer_id},
    }


def referenced_blobs(document: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """(media blob paths, raw body path) a records-container document points at.

    A record (record@1) names its stored media and its raw body; a media-recovery
    addendum names the one media blob it recovered. Anything else names nothing.
    """
    media: list[str] = []
    items = document.get("media")
    if isinstance(items, Mapping):  # an addendum: one recovered item
        items = [items]
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and item.get("state") == "stored":
            path = item.get("blob_path")
            if isinstance(path, str) and path:
                media.append(path)
    raw = document.get("raw")
    raw_path = raw.get("path") if isinstance(raw, Mapping) else None
    return media, raw_path if isinstance(raw_path, str) and raw_path else None
