"""Twilio message statuses on the archive's shared lifecycle.

The shared lifecycle is ``sent < delivered < read < played < failed < deleted``
(archive.index.STATUS_RANK); the shown status of a message never moves back along it.

- ``sent``, ``delivered``, ``read``, ``failed``: the same values.
- ``undelivered`` becomes ``failed``: Twilio (or WhatsApp) reports that the message will
  not reach the recipient, with an ``ErrorCode``. Terminal like ``failed``, it must
  outrank ``sent`` and ``delivered``, which a value of its own (unranked) would not.
- ``queued``, ``sending``, ``accepted``, ``scheduled``: kept as Twilio's value. The
  message has not reached WhatsApp yet, so calling it ``sent`` would be false evidence.
  Unranked values are shown only until a lifecycle status arrives and never hide one,
  so a late ``queued`` cannot regress ``delivered``.
- ``canceled`` (a scheduled message withdrawn): kept, unranked, for the same reason.
- anything else is not a status the adapter knows: the webhook is archived as ``unknown``.

The value Twilio sent is always kept in ``content.provider_status`` and in the fragment.
"""

from __future__ import annotations

_LIFECYCLE = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
}
_BEFORE_SENT = frozenset({"queued", "sending", "accepted", "scheduled"})
_UNRANKED_TERMINAL = frozenset({"canceled"})
# Statuses of an incoming message: such a webhook is a message, not a status callback.
INBOUND_STATUSES = frozenset({"received", "receiving"})


def lifecycle_status(value: str) -> str | None:
    """The archive's status value for Twilio's ``MessageStatus``; None when not known."""
    normal = value.strip().lower()
    if normal in _LIFECYCLE:
        return _LIFECYCLE[normal]
    if normal in _BEFORE_SENT or normal in _UNRANKED_TERMINAL:
        return normal
    return None
