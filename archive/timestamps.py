"""Provider time parsing and formatting. Never reads the clock."""

from __future__ import annotations

from datetime import UTC, datetime

# Plausible provider times: anything outside is treated as invalid, not clamped.
_MIN_SECONDS = 0
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def from_unix_seconds(value: object) -> datetime | None:
    """Parse Meta's unix-seconds timestamp (string or int); None when absent or invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        seconds = int(value)
    else:
        return None
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def from_iso(value: str) -> datetime | None:
    """Parse ISO-8601 with an explicit offset (``Z`` allowed); naive times are rejected."""
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return None
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def iso_utc(ts: datetime) -> str:
    """``2024-05-01T12:00:00Z`` (microseconds only when present)."""
    if ts.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    utc = ts.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def require_aware(ts: datetime, what: str) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return ts.astimezone(UTC)
