"""What a provider parser returns: the canonical events and the problems it met."""

from __future__ import annotations

from dataclasses import dataclass

from archive.events import CanonicalEvent


@dataclass(frozen=True)
class ParseResult:
    """Every provider adapter (meta/, wasender/, twilio/, acs/) returns this; never raises."""

    events: tuple[CanonicalEvent, ...]
    problems: tuple[str, ...]  # ids, paths and error codes only; never message content
