"""WASender delivery states mapped onto the archive's lifecycle.

``messages.update`` carries WhatsApp's WAMessageStatus, documented by WASender as a number
(0 ERROR, 1 PENDING, 2 SENT, 3 DELIVERED, 4 READ, 5 PLAYED; Baileys spells 2 and 3
SERVER_ACK and DELIVERY_ACK). ``message-receipt.update`` reports one group member's
receipt by which timestamp it carries: ``receiptTimestamp`` (delivered),
``readTimestamp`` (read) or ``playedTimestamp`` (played). The lifecycle the index ranks is
``sent < delivered < read < played < failed < deleted``; ``pending`` ranks below all, so
it never hides a known state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archive.meta.shapes import text

_BY_CODE = {0: "failed", 1: "pending", 2: "sent", 3: "delivered", 4: "read", 5: "played"}
_BY_NAME = {
    "error": "failed",
    "failed": "failed",
    "pending": "pending",
    "server_ack": "sent",
    "sent": "sent",
    "delivery_ack": "delivered",
    "delivered": "delivered",
    "read": "read",
    "played": "played",
}
# A receipt's timestamps, furthest along first: the receipt reports the furthest one.
_RECEIPT_TIMES = (("playedTimestamp", "played"), ("readTimestamp", "read"),
                  ("receiptTimestamp", "delivered"))


@dataclass(frozen=True)
class Status:
    value: str  # the lifecycle value, or "unknown" when WASender's value is not recognised
    known: bool
    time: object = None  # the provider timestamp that goes with it (receipts), if any


def status_value(raw: object) -> Status:
    """The lifecycle value of a WASender status (number, digit string or name)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = _BY_CODE.get(raw)
    elif isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= 3:
        value = _BY_CODE.get(int(raw.strip()))
    elif isinstance(raw, str):
        value = _BY_NAME.get(raw.strip().lower())
    else:
        value = None
    return Status(value, True) if value else Status("unknown", False)


def receipt_status(receipt: dict[str, Any]) -> Status:
    """One member's receipt: the furthest state it has a timestamp for, or its ``status``."""
    for key, value in _RECEIPT_TIMES:
        if receipt.get(key) not in (None, 0, "0", ""):
            return Status(value, True, receipt.get(key))
    if "status" in receipt or "type" in receipt:
        named = status_value(receipt.get("status", text(receipt, "type")))
        return Status(named.value, named.known, receipt.get("t"))
    return Status("unknown", False)
