"""Reading Twilio's field values: channel addresses, coordinates, flags, error codes."""

from __future__ import annotations

import math
import re
from typing import Any

# A channel address is "<channel>:<address>"; Twilio writes WhatsApp ones "whatsapp:+E164".
_E164 = re.compile(r"\A(?:whatsapp:)?\+([1-9][0-9]{1,14})\Z")
_CHANNEL = re.compile(r"\A([a-z][a-z0-9-]{0,31}):")


def party(value: str | None) -> str | None:
    """A participant as the archive spells it: E.164 digits, else the value as given.

    ``whatsapp:+16315551181`` becomes ``16315551181``: the spelling of Meta's ``wa_id``
    and of Twilio's own ``WaId``, so one customer is one participant whichever provider
    carried the message. Anything else (a WhatsApp user id, another channel, a short
    code) is kept exactly as given, so it is never mistaken for a phone number.
    """
    if value is None or not value.strip():
        return None
    match = _E164.match(value.strip())
    return match.group(1) if match else value


def channel(value: str | None) -> str | None:
    """The channel prefix of an address (``whatsapp``), or None for a bare number."""
    if value is None:
        return None
    match = _CHANNEL.match(value.strip())
    return match.group(1) if match else None


def coordinate(value: str | None, limit: float) -> float | None:
    """A latitude (limit 90) or longitude (limit 180) as a number; None if not one."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return number


def flag(value: str | None) -> bool | None:
    """Twilio's ``true``/``false`` strings; None for anything else."""
    if value is None:
        return None
    return {"true": True, "false": False}.get(value.strip().lower())


def error_entry(code: str | None, message: str | None) -> dict[str, Any] | None:
    """An ``ErrorCode``/``ErrorMessage`` pair shaped like Meta's errors (``code``, ``title``).

    ``ErrorCode`` is a Twilio error number (e.g. 63016); it stays text if it is not one.
    ``0`` or an absent code with no message is no error.
    """
    code_text = (code or "").strip()
    text = (message or "").strip()
    if code_text in ("", "0") and not text:
        return None
    entry: dict[str, Any] = {}
    if code_text:
        entry["code"] = int(code_text) if code_text.isascii() and code_text.isdigit() \
            and len(code_text) < 10 else code_text
    if text:
        entry["title"] = text
    return entry
