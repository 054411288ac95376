"""Who is who in a WASender (Baileys) message key: sender, recipient and the conversation.

WhatsApp ids arrive as JIDs: ``<digits>@s.whatsapp.net`` (a person by phone), ``<id>@lid``
(a person by an opaque linked id, not a phone number), ``<id>@g.us`` (a group),
``<id>@newsletter`` (a channel) and ``status@broadcast``. WASender adds ``senderPn`` /
``cleanedSenderPn`` (1:1) and ``participantPn`` / ``cleanedParticipantPn`` (groups) so
a phone is known even when ``remoteJid`` is a lid. The webhooks never name the session's
own number, so the firm's side is the fixed id :data:`BUSINESS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archive.meta.shapes import text

# The firm's side of every WASender conversation: the session. Its own number is not in
# any documented webhook payload (the envelope's ``sessionId`` is the session API key,
# a secret that must never reach a record).
BUSINESS = "wasender-session"
_PHONE_DOMAINS = frozenset({"s.whatsapp.net", "c.us"})
# Chats with many members: the chat id is the conversation, a participant the sender.
_MULTI_DOMAINS = frozenset({"g.us", "broadcast", "newsletter"})
GROUP_DOMAIN = "g.us"


def domain_of(jid: str | None) -> str | None:
    if not jid or "@" not in jid:
        return None
    return jid.rsplit("@", 1)[1].strip().lower()


def clean_party(value: str | None) -> str | None:
    """A participant as records keep it.

    A phone JID or ``+E.164`` becomes its digits (the device suffix ``:12`` dropped), as
    Meta's ``wa_id``; a lid keeps its ``@lid`` so no one mistakes it for a number; groups,
    channels and anything unrecognised are kept verbatim. Never assumes digits.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    local, sep, domain = value.rpartition("@")
    if not sep:
        digits = value[1:] if value.startswith("+") else value
        return digits if digits.isascii() and digits.isdigit() else value
    domain = domain.lower()
    if domain in _PHONE_DOMAINS or domain == "lid":
        user = local.split(":", 1)[0]
        if not user:
            return value
        return user if domain in _PHONE_DOMAINS else f"{user}@lid"
    return value


def is_phone(party: str | None) -> bool:
    """A cleaned party that is a phone number (digits), not a lid, group or channel."""
    return party is not None and party.isascii() and party.isdigit()


def _first_phone(*values: str | None) -> str | None:
    for value in values:
        party = clean_party(value)
        if is_phone(party):
            return party
    return None


def _first(*values: str | None) -> str | None:
    for value in values:
        party = clean_party(value)
        if party:
            return party
    return None


@dataclass(frozen=True)
class Parties:
    sender: str | None
    recipient: str | None
    customer: str  # the conversation's customer side: the person, or the group/channel id
    group_id: str | None
    member: str | None  # in a group: the member the key names (sender, or a receipt's reader)


def member_of(key: dict[str, Any]) -> str | None:
    """The group member a key names: their phone when WASender gives it, else the lid."""
    phone = _first_phone(text(key, "cleanedParticipantPn"), text(key, "participantPn"),
                         text(key, "participantAlt"), text(key, "participant"))
    return phone or _first(text(key, "participant"), text(key, "participantLid"))


def parties_of(key: dict[str, Any], from_me: bool) -> Parties:
    """Sender, recipient and customer of a message (or of a status about one).

    A 1:1 chat's customer is the person's phone when any field gives it (``remoteJid``,
    Baileys' ``remoteJidAlt``, or for an inbound message ``senderPn``), else the lid. In a
    group the customer is the group id and the sender the member.
    """
    chat = text(key, "remoteJid")
    if domain_of(chat) in _MULTI_DOMAINS:
        assert chat is not None  # domain_of found a domain
        member = member_of(key)
        group_id = chat if domain_of(chat) == GROUP_DOMAIN else None
        if from_me:
            return Parties(BUSINESS, chat, chat, group_id, member)
        # A channel post has no participant: the channel itself speaks.
        return Parties(member or chat, BUSINESS, chat, group_id, member)
    sender_phone = None if from_me else _first_phone(text(key, "cleanedSenderPn"),
                                                     text(key, "senderPn"))
    customer = (
        _first_phone(chat, text(key, "remoteJidAlt")) or sender_phone
        or _first(chat, text(key, "senderLid")) or ""
    )
    if from_me:
        return Parties(BUSINESS, customer or None, customer, None, None)
    return Parties(sender_phone or customer or None, BUSINESS, customer, None, None)
