"""Normalize an incoming Twilio WhatsApp message into kind, type, content and media.

Twilio flattens the WhatsApp message into form fields (Messaging webhook request
parameters): ``Body``, ``NumMedia``/``MediaUrlN``/``MediaContentTypeN``, ``MessageType``,
``ProfileName`` and ``WaId`` (the sender), ``OriginalRepliedMessageSid`` and
``OriginalRepliedMessageSender`` (a reply), ``ButtonText``/``ButtonPayload`` (a button
tap), ``Latitude``/``Longitude``/``Address``/``Label`` (a location), ``Forwarded`` and
``FrequentlyForwarded``, and ``Referral*`` (click-to-WhatsApp ads). Content keys follow
the Meta adapter's, so records read the same whichever provider carried them. Twilio's
parameter list names no reaction, edit or delete; a ``MessageType`` the adapter does not
know (a future "reaction", say) is archived as ``unknown:<type>`` with its content.
"""

from __future__ import annotations

from typing import Any

from archive.events import MediaRef, Normalized
from archive.twilio.fields import coordinate, flag, party
from archive.twilio.form import Params, first, present
from archive.twilio.media import media_entries, media_kind

# MessageType values documented for WhatsApp, plus the media kinds Twilio spells the same.
KNOWN_MESSAGE_TYPES = frozenset({
    "text", "image", "video", "audio", "document", "sticker", "location", "button",
    "interactive", "contacts",
})
_MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
_REFERRAL_FIELDS = (
    ("ReferralBody", "body"), ("ReferralHeadline", "headline"),
    ("ReferralSourceId", "source_id"), ("ReferralSourceType", "source_type"),
    ("ReferralSourceUrl", "source_url"), ("ReferralMediaId", "media_id"),
    ("ReferralMediaContentType", "media_type"), ("ReferralMediaUrl", "media_url"),
    ("ReferralCtwaClid", "ctwa_clid"),
)


def _picked(params: Params, names: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {key: value for name, key in names if (value := present(params, name)) is not None}


def _common(params: Params) -> dict[str, Any]:
    """Fields any message may carry: the sender's profile, reply context, ad referral."""
    content: dict[str, Any] = {}
    contact = _picked(params, (("ProfileName", "name"), ("WaId", "wa_id")))
    if contact:
        content["contact"] = contact
    context: dict[str, Any] = {}
    replied = present(params, "OriginalRepliedMessageSid")
    if replied is not None:
        context["id"] = replied
        content["referenced_message_id"] = replied
        replied_sender = party(present(params, "OriginalRepliedMessageSender"))
        if replied_sender is not None:
            context["from"] = replied_sender
    for name, key in (("Forwarded", "forwarded"), ("FrequentlyForwarded", "frequently_forwarded")):
        if flag(first(params, name)):
            context[key] = True
    if context:
        content["context"] = context
    referral = _picked(params, _REFERRAL_FIELDS)
    if referral:
        content["referral"] = referral
    return content


def _location(params: Params, problems: list[str]) -> dict[str, Any]:
    location: dict[str, Any] = {}
    for name, key, limit in (("Latitude", "latitude", 90.0), ("Longitude", "longitude", 180.0)):
        raw = present(params, name)
        value = coordinate(raw, limit)
        if raw is not None and value is None:
            problems.append(f"{name} is not a valid coordinate")
        location[key] = value
    location.update(_picked(params, (("Label", "name"), ("Address", "address"))))
    return location


def _button(params: Params, message_type: str) -> dict[str, Any]:
    payload, text = present(params, "ButtonPayload"), present(params, "ButtonText")
    if message_type == "interactive":
        # A reply to an interactive message (quick-reply or call-permission buttons).
        reply: dict[str, Any] = {"type": "button_reply" if payload or text else None}
        reply.update({k: v for k, v in (("id", payload), ("title", text)) if v is not None})
        return {"interactive": reply}
    # A template's quick-reply button, Meta's "button" type.
    return {"button": {k: v for k, v in (("payload", payload), ("text", text)) if v is not None}}


def _inferred_type(params: Params, media: tuple[MediaRef, ...]) -> str:
    """The type when Twilio sends no MessageType (older webhooks)."""
    if media:
        return media[0].kind
    if present(params, "Latitude") is not None or present(params, "Longitude") is not None:
        return "location"
    if present(params, "ButtonPayload") is not None or present(params, "ButtonText") is not None:
        return "button"
    return "text"


def normalize_inbound(params: Params, problems: list[str]) -> Normalized:
    """Kind, type, content and media refs of one incoming message; never raises."""
    declared = (present(params, "MessageType") or "").strip().lower()
    media = tuple(
        MediaRef(media_id=entry.media_id, mime_type=entry.content_type or None,
                 provider_sha256=None, filename=None,
                 kind=media_kind(entry.content_type, declared))
        for entry in media_entries(params, problems)
    )
    message_type = declared or _inferred_type(params, media)
    content = _common(params)
    body = first(params, "Body")
    if media and message_type in _MEDIA_TYPES:
        if body:
            content["caption"] = body  # a media message's Body is its caption
    elif message_type == "text" or (body and body != present(params, "ButtonText")):
        # A button reply's Body repeats the button's text, which is kept with the button.
        content["text"] = body or ""
    if message_type == "location" or "Latitude" in params or "Longitude" in params:
        content["location"] = _location(params, problems)
    if message_type in ("button", "interactive") or (
        "ButtonPayload" in params or "ButtonText" in params
    ):
        content.update(_button(params, message_type))
    if message_type not in KNOWN_MESSAGE_TYPES:
        problems.append(f"MessageType {message_type[:40]!r} not recognized; archived as unknown")
        return Normalized("unknown", f"unknown:{message_type}", content, media)
    return Normalized("message", message_type, content, media)
