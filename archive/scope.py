"""What a legal hold or an export covers: one participant, one conversation or one message,
optionally within a range of provider days (UTC, inclusive).

Pure: the same rule decides at archive time (does this new record fall under an active
hold?), in the retention job (may this expired record go?) and in an export (is this
record part of the production?). A record is covered when its provider day is in range
and it involves the selector: for a participant, as sender, recipient, customer or the
firm's number; for a conversation, by its business and customer ids; for a message, by
its message id (the message and every status, edit or reaction recorded under that id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from archive.timestamps import from_iso


class ScopeError(ValueError):
    """A scope that names no selector, two selectors, or an empty date range."""


def _day(value: Any, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ScopeError(f"{what} must be a day as YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class Scope:
    participant: str | None = None
    business_id: str | None = None
    customer_id: str | None = None
    message_id: str | None = None
    start: date | None = None  # first provider day covered (UTC), None = open
    end: date | None = None  # last provider day covered (UTC), None = open

    def __post_init__(self) -> None:
        for name in ("participant", "business_id", "customer_id", "message_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ScopeError(f"{name} must be a non-empty string")
        if bool(self.business_id) != bool(self.customer_id):
            raise ScopeError("a conversation scope needs both the business and the customer")
        selectors = [bool(self.participant), bool(self.business_id), bool(self.message_id)]
        if sum(selectors) != 1:
            raise ScopeError(
                "name exactly one of: a participant, a conversation (business and customer),"
                " or a message id"
            )
        if self.start and self.end and self.start > self.end:
            raise ScopeError("the scope's first day is after its last day")

    @property
    def kind(self) -> str:
        if self.participant:
            return "participant"
        if self.business_id:
            return "conversation"
        return "message"

    def start_time(self) -> datetime | None:
        """The first instant covered, for index range queries."""
        return datetime.combine(self.start, time.min, UTC) if self.start else None

    def end_time(self) -> datetime | None:
        """The last instant covered, for index range queries."""
        return datetime.combine(self.end, time.max, UTC) if self.end else None

    def covers_day(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def covers(self, record: Mapping[str, Any]) -> bool:
        """Does this canonical record (record@1 dict or index row) fall in the scope?"""
        ts = from_iso(str(record.get("timestamp", "")))
        if ts is None or not self.covers_day(ts.astimezone(UTC).date()):
            return False
        conversation = record.get("conversation")
        if isinstance(conversation, Mapping):
            business, customer = conversation.get("business_id"), conversation.get("customer_id")
        else:  # an index row projects them flat
            business, customer = record.get("business_id"), record.get("customer_id")
        if self.message_id:
            return record.get("message_id") == self.message_id
        if self.business_id:
            return business == self.business_id and customer == self.customer_id
        involved = {record.get("from"), record.get("to"), business, customer}
        return self.participant in involved

    def to_dict(self) -> dict[str, str]:
        """Flat strings, so the scope fits a Table entity and a JSON manifest alike."""
        data = {
            "participant": self.participant,
            "business_id": self.business_id,
            "customer_id": self.customer_id,
            "message_id": self.message_id,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scope:
        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value in (None, "") else str(value)

        return cls(
            participant=text("participant"),
            business_id=text("business_id"),
            customer_id=text("customer_id"),
            message_id=text("message_id"),
            start=_day(data.get("start"), "start"),
            end=_day(data.get("end"), "end"),
        )

    def describe(self) -> str:
        """For people (CLI, TUI, certificates); never for logs: it names a participant."""
        if self.participant:
            what = f"participant {self.participant}"
        elif self.business_id:
            what = f"conversation {self.business_id} / {self.customer_id}"
        else:
            what = f"message {self.message_id}"
        if self.start or self.end:
            first = self.start.isoformat() if self.start else "the beginning"
            last = self.end.isoformat() if self.end else "now"
            what += f", {first} to {last}"
        return what


def scope_from_args(
    *,
    participant: str | None = None,
    business: str | None = None,
    customer: str | None = None,
    message_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Scope:
    """A scope from command-line strings (`--participant`, `--business/--customer`, ...)."""
    return Scope(
        participant=participant or None,
        business_id=business or None,
        customer_id=customer or None,
        message_id=message_id or None,
        start=_day(start, "--from"),
        end=_day(end, "--to"),
    )
