"""WASender timestamps: seconds or milliseconds, as numbers, strings or protobuf Longs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
_MAX_DIGITS = 16


def _number(value: object) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS:
            return int(value)
        return None
    if isinstance(value, dict):
        # Baileys serialises int64 fields as {"low": ..., "high": ..., "unsigned": ...}.
        low, high = value.get("low"), value.get("high")
        if type(low) is int and type(high) is int:  # bool is an int subclass: refused
            return (high << 32) + (low & 0xFFFFFFFF)
    return None


def provider_time(value: object) -> datetime | None:
    """UTC time of a WASender timestamp; None when absent or implausible.

    The envelope carries seconds for most events and milliseconds for ``messages.update``,
    ``message-receipt.update`` and ``poll.results``; a value too large to be seconds
    (after the year 9999) is read as milliseconds.
    """
    number = _number(value)
    if number is None or not math.isfinite(number) or number < 0:
        return None
    millis = number > _MAX_SECONDS
    if (number / 1000 if millis else number) > _MAX_SECONDS:
        return None
    if millis and isinstance(number, int):
        return _EPOCH + timedelta(milliseconds=number)  # exact: no float rounding
    return _EPOCH + timedelta(seconds=number / 1000 if millis else number)
