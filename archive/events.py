"""Canonical, provider-neutral events (frozen, JSON-friendly)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast, get_args

from archive.encoding import join_segments, key_segment
from archive.timestamps import from_iso, iso_utc, require_aware

# "call" (issue #19): one event of a WhatsApp call (connect, status or terminate). Records
# written before it exist as "system" events of type "field:calls" and stay valid record@1.
EventKind = Literal[
    "message", "status", "edit", "delete", "reaction", "system", "unknown", "call"
]
Direction = Literal["inbound", "outbound"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
CALL_EVENT = "call"


def call_facts(content: object) -> dict[str, Any]:
    """``content["call"]`` of a call event; ``{}`` for any other event or a malformed one.

    Tolerant on purpose: record readers meet records of every age and kind, and an old
    ``field:calls`` system record has no ``call`` key.
    """
    if isinstance(content, Mapping):
        call = content.get("call")
        if isinstance(call, dict):
            return call
    return {}


def conversation_key_of(business_id: str, customer_id: str) -> str:
    """Stable, key-safe id of a (business, customer) pair: ``<biz>~~<customer>``."""
    return join_segments(key_segment(business_id), key_segment(customer_id))


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mime_type: str | None
    provider_sha256: str | None
    filename: str | None
    kind: str  # image/audio/video/document/sticker

    def to_dict(self) -> dict[str, Any]:
        return {
            "media_id": self.media_id,
            "mime_type": self.mime_type,
            "provider_sha256": self.provider_sha256,
            "filename": self.filename,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaRef:
        return cls(
            media_id=str(data["media_id"]),
            mime_type=data.get("mime_type"),
            provider_sha256=data.get("provider_sha256"),
            filename=data.get("filename"),
            kind=str(data["kind"]),
        )


@dataclass(frozen=True)
class StatusInfo:
    value: str
    recipient: str | None
    errors: tuple[dict[str, Any], ...] = ()
    pricing: dict[str, Any] | None = None
    conversation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "recipient": self.recipient,
            "errors": list(self.errors),
            "pricing": self.pricing,
            "conversation": self.conversation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusInfo:
        return cls(
            value=str(data["value"]),
            recipient=data.get("recipient"),
            errors=tuple(data.get("errors") or ()),
            pricing=data.get("pricing"),
            conversation=data.get("conversation"),
        )


@dataclass(frozen=True)
class Normalized:
    """One provider message mapped onto a canonical kind, type, content and media list.

    Every provider adapter (meta/, wasender/, twilio/, acs/) normalizes into this before
    its parser adds the parties, ids and time that make a CanonicalEvent.
    """

    kind: EventKind
    type: str
    content: dict[str, Any] = field(default_factory=dict)
    media: tuple[MediaRef, ...] = ()


def reaction_content(target: str | None, emoji: str | None) -> dict[str, Any]:
    """The canonical content of a reaction; an empty emoji is the reaction taken back.

    One shape for every provider, so search, transcripts and RSMF read reactions alike.
    """
    return {
        "reaction": {"message_id": target, "emoji": emoji or ""},
        "referenced_message_id": target,
        "reaction_removed": not emoji,
    }


@dataclass(frozen=True)
class CanonicalEvent:
    provider: str
    event: EventKind
    direction: Direction
    message_id: str
    sender: str | None
    recipient: str | None
    business_id: str
    customer_id: str
    timestamp: datetime
    type: str
    content: dict[str, Any] = field(default_factory=dict)
    status: StatusInfo | None = None
    media: tuple[MediaRef, ...] = ()
    fragment: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.event!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}")
        object.__setattr__(self, "timestamp", require_aware(self.timestamp, "timestamp"))

    def conversation_key(self) -> str:
        """Stable, key-safe id of the (business, customer) pair: ``<biz>~~<customer>``."""
        return conversation_key_of(self.business_id, self.customer_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, e.g. for a Durable orchestration input."""
        return {
            "provider": self.provider,
            "event": self.event,
            "direction": self.direction,
            "message_id": self.message_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "business_id": self.business_id,
            "customer_id": self.customer_id,
            "timestamp": iso_utc(self.timestamp),
            "type": self.type,
            "content": self.content,
            "status": self.status.to_dict() if self.status else None,
            "media": [m.to_dict() for m in self.media],
            "fragment": self.fragment,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CanonicalEvent:
        """Inverse of :meth:`to_dict`; raises ``ValueError``/``KeyError`` on bad input."""
        ts = from_iso(str(data["timestamp"]))
        if ts is None:
            raise ValueError("timestamp is not ISO-8601 with an offset")
        status = data.get("status")
        return cls(
            provider=str(data["provider"]),
            event=cast(EventKind, data["event"]),
            direction=cast(Direction, data["direction"]),
            message_id=str(data["message_id"]),
            sender=data.get("sender"),
            recipient=data.get("recipient"),
            business_id=str(data["business_id"]),
            customer_id=str(data["customer_id"]),
            timestamp=ts,
            type=str(data["type"]),
            content=dict(data.get("content") or {}),
            status=StatusInfo.from_dict(status) if status else None,
            media=tuple(MediaRef.from_dict(m) for m in data.get("media") or ()),
            fragment=dict(data.get("fragment") or {}),
        )
