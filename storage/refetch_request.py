"""A request to fetch one media item of an archived record again (a media-gap replay).

It travels on the `ingest` queue beside webhook envelopes, as JSON with
`"source": "refetch"`, so the one queue trigger (and its poison handling) serves
both. Records are immutable: the queue worker starts a `refetch_media`
orchestration that stores the media and an addendum record next to the original.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

REFETCH_SOURCE = "refetch"
REFETCH_VERSION = 1


class RefetchRequestError(ValueError):
    """A queue message that says it is a refetch request but is incomplete."""


@dataclass(frozen=True)
class RefetchRequest:
    record_path: str  # the record in `records` whose media item is missing
    media_id: str
    failure_row: str  # RowKey of its `media_unavailable` row in the failures table
    requested_by: str  # the admin who asked (audit attribution)
    requested_at: str  # ISO-8601 UTC

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def encode_refetch(request: RefetchRequest) -> str:
    doc = {"v": REFETCH_VERSION, "source": REFETCH_SOURCE, **request.to_json()}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def decode_refetch(message: str | bytes) -> RefetchRequest | None:
    """The request in a queue message, or None when the message is something else."""
    raw = message.encode("utf-8") if isinstance(message, str) else message
    if f'"{REFETCH_SOURCE}"'.encode() not in raw:
        return None  # a webhook envelope: skip parsing its (large) JSON twice
    try:
        doc: Any = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("source") != REFETCH_SOURCE:
        return None
    if doc.get("v") != REFETCH_VERSION:
        raise RefetchRequestError("refetch request of an unknown version")
    try:
        return RefetchRequest(
            **{name: str(doc[name]) for name in RefetchRequest.__dataclass_fields__}
        )
    except KeyError as exc:
        raise RefetchRequestError(f"refetch request without {exc.args[0]}") from None


def refetch_from_json(data: dict[str, Any]) -> RefetchRequest:
    return RefetchRequest(**{name: str(data[name]) for name in RefetchRequest.__dataclass_fields__})
