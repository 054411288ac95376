"""Normalize the ``data`` of an ACS ``AdvancedMessageReceived`` event (kind, type, content, media).

ACS's field names differ from Meta's, but the normalized ``content`` keeps the shapes the
rest of the archive already reads (search, TUI, exports): ``text``, ``caption``,
``filename``, ``context{from, id}``, ``referenced_message_id``,
``interactive{type: button_reply|list_reply, id, title, description}``,
``button{payload, text}`` and ``reaction{message_id, emoji}``. The data object itself is
kept verbatim as the record's fragment.
"""

from __future__ import annotations

from typing import Any

from archive.events import MEDIA_KINDS, MediaRef, Normalized, reaction_content
from archive.meta.shapes import obj, pick, text

# ACS spells interactive reply types in camelCase; Meta's (and the archive's) are snake_case.
_INTERACTIVE_TYPES = {"buttonReply": "button_reply", "listReply": "list_reply"}
# Not a documented ACS type, but WhatsApp has voice notes: kept as audio, flagged as voice.
_VOICE = "voice"


def _kind_of_mime(mime: str | None) -> str:
    top = (mime or "").split("/", 1)[0].strip().lower()
    return top if top in ("image", "audio", "video") else "document"


def _inferred_type(data: dict[str, Any]) -> str:
    """The message type when ``messageType`` is absent (early ACS events had none)."""
    if obj(data, "media"):
        return _kind_of_mime(text(obj(data, "media"), "mimeType"))
    for key in ("reaction", "interactive", "button"):
        if obj(data, key):
            return key
    return "text" if text(data, "content") is not None else ""


def _media(
    data: dict[str, Any], kind: str, *, expected: bool
) -> tuple[dict[str, Any], tuple[MediaRef, ...]]:
    """Caption, file name and the media reference; ``expected``: the type says media."""
    body = obj(data, "media")
    content: dict[str, Any] = pick(body, "caption", "animated")
    filename = text(body, "fileName")
    if filename is not None:
        content["filename"] = filename
    media_id = text(body, "id")
    if media_id is None:
        if body or expected:
            content["media_missing_id"] = True
        return content, ()
    ref = MediaRef(media_id=media_id, mime_type=text(body, "mimeType"), provider_sha256=None,
                   filename=filename, kind=kind)
    return content, (ref,)


def _interactive(data: dict[str, Any]) -> dict[str, Any]:
    body = obj(data, "interactive")
    acs_type = text(body, "type")
    reply_type = _INTERACTIVE_TYPES.get(acs_type or "")
    if reply_type is None:
        return {"interactive": {"type": acs_type, "raw": body}}
    reply: dict[str, Any] = {"type": reply_type}
    reply.update(pick(obj(body, acs_type or ""), "id", "title", "description"))
    return {"interactive": reply}


def _reaction(data: dict[str, Any]) -> dict[str, Any]:
    body = obj(data, "reaction")
    # As on Meta: an empty emoji is the customer taking a reaction back.
    return reaction_content(text(body, "messageId"), text(body, "emoji"))


def _common(data: dict[str, Any]) -> dict[str, Any]:
    """The reply context any message type may carry."""
    context = obj(data, "context")
    if not context:
        return {}
    content: dict[str, Any] = {"context": pick(context, "from", "id")}
    if text(context, "id"):
        content["referenced_message_id"] = text(context, "id")
    return content


def normalize_received(data: dict[str, Any]) -> Normalized:
    """Kind, type, content and media refs of one received message; never raises.

    An unknown ``messageType`` is an ``unknown`` event that still keeps its text and its
    media reference (so the binary is fetched and archived), with the data as fragment.
    """
    declared = text(data, "messageType")
    message_type = declared if declared is not None else _inferred_type(data)
    content = _common(data)
    if declared is None:
        content["message_type_inferred"] = True
    if message_type == "text":
        return Normalized("message", "text", {**content, "text": text(data, "content")})
    if message_type in MEDIA_KINDS or message_type == _VOICE:
        kind = "audio" if message_type == _VOICE else message_type
        media_content, media = _media(data, kind, expected=True)
        if message_type == _VOICE:
            media_content["voice"] = True
        return Normalized("message", message_type, {**content, **media_content}, media)
    if message_type == "reaction":
        return Normalized("reaction", "reaction", {**content, **_reaction(data)})
    if message_type == "interactive":
        return Normalized("message", "interactive", {**content, **_interactive(data)})
    if message_type == "button":
        return Normalized("message", "button",
                          {**content, "button": pick(obj(data, "button"), "payload", "text")})
    # Not dropped: whatever text and media it has are kept beside the verbatim fragment.
    kind = _kind_of_mime(text(obj(data, "media"), "mimeType"))
    media_content, media = _media(data, kind, expected=False)
    if text(data, "content") is not None:
        media_content["text"] = text(data, "content")
    return Normalized("unknown", f"unknown:{message_type}", {**content, **media_content}, media)
