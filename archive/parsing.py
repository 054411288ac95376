"""Split an ingest body into canonical events, by source (pure; shared by worker and activity)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.events import CanonicalEvent
from archive.meta.parser import parse_webhook
from archive.outbound import OutboundError, parse_outbound

# Sources with a provider adapter besides Meta (issue 13); "outbound" is the firm's own.
PROVIDER_SOURCES = ("wasender", "twilio", "acs")


@dataclass(frozen=True)
class Parsed:
    events: tuple[CanonicalEvent, ...]
    problems: tuple[str, ...]


def parse_body(
    source: str, body: bytes, received_at: datetime, *, legacy_calls: bool = False
) -> Parsed:
    """Never raises: problems are returned (ids and error names only, never content).

    Deterministic in (source, body, received_at): store_record and custody checks
    re-derive records by parsing the stored raw body again. ``legacy_calls`` parses a
    ``calls`` change as the parser did before calls became records (one ``system`` event).
    """
    if source == "meta":
        result = parse_webhook(body, received_at=received_at, legacy_calls=legacy_calls)
        return Parsed(result.events, result.problems)
    if source in PROVIDER_SOURCES:
        try:
            return _provider(source, body, received_at)
        except Exception as exc:  # an adapter bug: the raw body is kept, the gap flagged
            return Parsed((), (f"{source} parser failed: {type(exc).__name__}",))
    if source != "outbound":
        return Parsed((), ("unknown source",))
    try:
        return Parsed((parse_outbound(json.loads(body), received_at=received_at),), ())
    except (OutboundError, ValueError, RecursionError) as exc:
        return Parsed((), (f"outbound capture rejected: {type(exc).__name__}",))


def _provider(source: str, body: bytes, received_at: datetime) -> Parsed:
    """WASender, Twilio and ACS: each adapter's pure parser (imported at use, one per source)."""
    if source == "wasender":
        from archive.wasender.parser import parse_wasender

        result = parse_wasender(body, received_at=received_at)
    elif source == "twilio":
        from archive.twilio.parser import parse_twilio

        result = parse_twilio(body, received_at=received_at)
    else:
        from archive.acs.parser import parse_acs

        result = parse_acs(body, received_at=received_at)
    return Parsed(result.events, result.problems)


def parse_eras(source: str, body: bytes, received_at: datetime) -> tuple[Parsed, ...]:
    """Today's parse of a body, then each earlier parse whose records the archive may hold.

    WORM records are never rewritten, so a record written by an earlier parser version
    stays as it was; checks that re-derive records from raw bodies (custody, reconcile)
    accept a match with any era. New records always come from today's parse.
    """
    current = parse_body(source, body, received_at)
    if source != "meta":
        return (current,)
    legacy = parse_body(source, body, received_at, legacy_calls=True)
    return (current,) if legacy.events == current.events else (current, legacy)


def event_skeleton(event: CanonicalEvent) -> dict[str, Any]:
    """The event without its words: ids, time, status and media list (Durable inputs)."""
    data = event.to_dict()
    data["content"] = {}
    data["fragment"] = {}
    return data
