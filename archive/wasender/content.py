"""Normalize one Baileys message object (WASender's ``message``) into kind, type and content.

WASender passes WhatsApp's message through as Baileys (WAProto) JSON: one content key
(``conversation``, ``extendedTextMessage``, ``imageMessage`` ...), sometimes inside
wrappers (``ephemeralMessage``, ``viewOnceMessage`` ...), beside metadata such as
``messageContextInfo``. A content key this module does not know is kept as
``unknown:<key>`` (the record's fragment holds it verbatim), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archive.events import MediaRef, Normalized, reaction_content
from archive.meta.shapes import dicts, items, obj, pick, text
from archive.wasender.parties import clean_party

# Wrapper key -> the content flag it sets (None: a wrapper that says nothing of note).
WRAPPERS: dict[str, str | None] = {
    "ephemeralMessage": "ephemeral",
    "viewOnceMessage": "view_once",
    "viewOnceMessageV2": "view_once",
    "viewOnceMessageV2Extension": "view_once",
    "documentWithCaptionMessage": None,
    "editedMessage": None,
    "deviceSentMessage": None,
    "groupMentionedMessage": None,
    "botInvokeMessage": None,
}
_MAX_WRAPPERS = 8
# Keys that travel beside the content and are not content themselves.
_METADATA = frozenset({"messageContextInfo", "senderKeyDistributionMessage"})
# Baileys media message key -> the archive's media kind. A video note (ptv) is a video.
MEDIA_KEYS: dict[str, str] = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
# WAProto ProtocolMessage.Type, as a number or, in protobuf JSON, its name.
REVOKE = 0
MESSAGE_EDIT = 14
_PROTOCOL_NAMES = {"REVOKE": REVOKE, "MESSAGE_EDIT": MESSAGE_EDIT}
_POLL_KEYS = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3")
_KNOWN = (
    "conversation", "extendedTextMessage", *MEDIA_KEYS, "locationMessage",
    "liveLocationMessage", "contactMessage", "contactsArrayMessage", "reactionMessage",
    "protocolMessage", *_POLL_KEYS, "pollUpdateMessage", "buttonsResponseMessage",
    "listResponseMessage", "templateButtonReplyMessage", "interactiveResponseMessage",
)


@dataclass(frozen=True)
class MediaBody:
    kind: str  # image/audio/video/document/sticker
    key: str  # the Baileys key it sits under, e.g. "imageMessage"
    body: dict[str, Any]


def media_id_for(message_id: str, kind: str) -> str:
    """A WhatsApp message carries at most one media item; WASender gives it no id of its own."""
    return f"{message_id}-{kind}"


def unwrap(message: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The innermost message and the flags its wrappers set (e.g. ``view_once``)."""
    flags: list[str] = []
    current = message
    for _ in range(_MAX_WRAPPERS):
        wrapper = next((w for w in WRAPPERS if obj(obj(current, w), "message")), None)
        if wrapper is None:
            break
        flag = WRAPPERS[wrapper]
        if flag and flag not in flags:
            flags.append(flag)
        current = obj(obj(current, wrapper), "message")
    return current, tuple(flags)


def content_key(message: dict[str, Any]) -> str | None:
    """The key that carries the content: a known one first, else the first other key."""
    present = sorted(k for k, v in message.items() if k not in _METADATA and v is not None)
    return next((k for k in _KNOWN if k in present), present[0] if present else None)


def media_of(message: dict[str, Any]) -> MediaBody | None:
    """The media item of a message, looked up the same way by the parser and the fetcher."""
    inner, _ = unwrap(message)
    key = content_key(inner)
    body = obj(inner, key) if key in MEDIA_KEYS else {}
    return MediaBody(MEDIA_KEYS[key], key, body) if key in MEDIA_KEYS and body else None


def downloadable(body: dict[str, Any]) -> bool:
    """decrypt-media needs the media key and where the encrypted file is."""
    return bool(text(body, "mediaKey")) and bool(text(body, "url") or text(body, "directPath"))


def file_length(body: dict[str, Any]) -> int | None:
    """``fileLength`` arrives as a string of digits (sometimes a number); else absent."""
    value = body.get("fileLength")
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    return value if isinstance(value, int) and value >= 0 else None


def protocol_type(body: dict[str, Any]) -> int | str | None:
    value = body.get("type")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _PROTOCOL_NAMES.get(value.strip().upper(), value.strip()[:40] or None)
    return None


def _context(body: dict[str, Any], quotes: bool) -> dict[str, Any]:
    """Reply, forward and mention facts from a content body's ``contextInfo``."""
    info = obj(body, "contextInfo")
    out: dict[str, Any] = {}
    context: dict[str, Any] = {}
    stanza = text(info, "stanzaId")
    if stanza:
        context["id"] = stanza
        out["referenced_message_id"] = stanza
    quoted_from = clean_party(text(info, "participant"))
    if quoted_from:
        context["from"] = quoted_from
    if info.get("isForwarded") is True:
        context["forwarded"] = True
    score = info.get("forwardingScore")
    if isinstance(score, int) and not isinstance(score, bool):
        context["forwarding_score"] = score
    if context:
        out["context"] = context
    quoted = obj(info, "quotedMessage")
    if quoted and quotes:
        # What the reply quoted, as the reader saw it; never fetched as media.
        inner = normalize(quoted, media_id_prefix=None, quotes=False)
        out["quoted"] = {"type": inner.type, **pick(
            inner.content, "text", "caption", "filename", "location", "contacts")}
    mentions = [clean_party(m) for m in items(info, "mentionedJid") if isinstance(m, str)]
    if any(mentions):
        out["mentions"] = [m for m in mentions if m]
    return out


def _media(key: str, body: dict[str, Any], media_id_prefix: str | None) -> Normalized:
    kind = MEDIA_KEYS[key]
    content: dict[str, Any] = {}
    for source, target in (("caption", "caption"), ("fileName", "filename")):
        if text(body, source) is not None:
            content[target] = text(body, source)
    if kind == "audio":
        content["voice"] = body.get("ptt") is True
    if kind == "sticker":
        content["animated"] = body.get("isAnimated") is True
    if key == "ptvMessage":
        content["video_note"] = True
    if body.get("gifPlayback") is True:
        content["gif"] = True
    size = file_length(body)
    if size is not None:
        content["file_length"] = size
    if media_id_prefix is None:
        return Normalized("message", kind, content)
    if not downloadable(body):
        content["media_not_downloadable"] = True
        return Normalized("message", kind, content)
    ref = MediaRef(
        media_id=media_id_for(media_id_prefix, kind),
        mime_type=text(body, "mimetype"),
        provider_sha256=text(body, "fileSha256"),  # base64 of the plaintext's SHA-256
        filename=text(body, "fileName"),
        kind=kind,
    )
    return Normalized("message", kind, content, (ref,))


def _protocol(body: dict[str, Any], quotes: bool) -> Normalized:
    kind_of = protocol_type(body)
    original = text(obj(body, "key"), "id")
    refs = {"original_message_id": original, "referenced_message_id": original}
    if kind_of == REVOKE:
        return Normalized("delete", "revoke", refs)
    if kind_of == MESSAGE_EDIT:
        edited = obj(body, "editedMessage")
        content: dict[str, Any] = dict(refs)
        if edited:
            # Edits change text or a caption; the media stays the original message's.
            inner = normalize(edited, media_id_prefix=None, quotes=quotes)
            content["edited"] = {"type": inner.type, **inner.content}
        return Normalized("edit", "edit", content)
    # Other protocol messages (e.g. 3, disappearing messages switched on or off) are
    # system events: what changed is evidence too.
    return Normalized("system", f"protocol:{kind_of}", {
        "protocol": {"type": kind_of, **pick(body, "ephemeralExpiration")}})


def _interactive(key: str, body: dict[str, Any]) -> dict[str, Any]:
    if key == "buttonsResponseMessage":
        reply = {"type": "button_reply", "id": text(body, "selectedButtonId"),
                 "title": text(body, "selectedDisplayText")}
    elif key == "templateButtonReplyMessage":
        reply = {"type": "button_reply", "id": text(body, "selectedId"),
                 "title": text(body, "selectedDisplayText")}
    elif key == "listResponseMessage":
        reply = {"type": "list_reply", "id": text(obj(body, "singleSelectReply"), "selectedRowId"),
                 "title": text(body, "title"), "description": text(body, "description")}
    else:
        flow = obj(body, "nativeFlowResponseMessage")
        reply = {"type": "nfm_reply", "name": text(flow, "name"),
                 "body": text(obj(body, "body"), "text"), "response_json": text(flow, "paramsJson")}
    return {"interactive": {k: v for k, v in reply.items() if v is not None}}


def _simple(key: str, body: Any) -> Normalized | None:
    if key == "conversation":
        return Normalized("message", "text", {"text": body if isinstance(body, str) else None})
    if not isinstance(body, dict):
        return None
    if key == "extendedTextMessage":
        content: dict[str, Any] = {"text": text(body, "text")}
        link = pick(body, "matchedText", "canonicalUrl", "title", "description")
        if link:
            content["link"] = link
        return Normalized("message", "text", content)
    if key in ("locationMessage", "liveLocationMessage"):
        location = {"latitude": body.get("degreesLatitude"),
                    "longitude": body.get("degreesLongitude"),
                    **pick(body, "name", "address", "url")}
        content = {"location": {k: v for k, v in location.items() if v is not None}}
        if key == "liveLocationMessage":
            content["live"] = True
        return Normalized("message", "location", content)
    if key == "contactMessage":
        return Normalized("message", "contacts", {"contacts": [
            {"name": text(body, "displayName"), "vcard": text(body, "vcard")}]})
    if key == "contactsArrayMessage":
        return Normalized("message", "contacts", {"contacts": [
            {"name": text(c, "displayName"), "vcard": text(c, "vcard")}
            for c in dicts(items(body, "contacts"))]})
    if key == "reactionMessage":
        # WhatsApp sends an empty text to remove a reaction.
        return Normalized("reaction", "reaction",
                          reaction_content(text(obj(body, "key"), "id"), text(body, "text")))
    if key in _POLL_KEYS:
        options = [text(o, "optionName") for o in dicts(items(body, "options"))]
        return Normalized("message", "poll", {"poll": {
            "name": text(body, "name"), "options": options,
            **pick(body, "selectableOptionsCount")}})
    if key == "pollUpdateMessage":
        # The vote itself is encrypted for the poll's creator; keep which poll it answers.
        poll = text(obj(body, "pollCreationMessageKey"), "id")
        return Normalized("message", "poll_vote", {"poll_vote": {"poll_message_id": poll},
                                                    "referenced_message_id": poll})
    if key in ("buttonsResponseMessage", "listResponseMessage", "templateButtonReplyMessage",
               "interactiveResponseMessage"):
        return Normalized("message", "interactive", _interactive(key, body))
    return None


def normalize(
    message: dict[str, Any], *, media_id_prefix: str | None, quotes: bool = True
) -> Normalized:
    """Kind, type, content and media of one message; unknown keys are kept, not dropped.

    ``media_id_prefix`` (the message id) names the media item; None for quoted or edited
    messages, whose media belongs to another message. ``quotes`` is off inside a quote,
    so quoting stops at one level.
    """
    inner, flags = unwrap(message)
    key = content_key(inner)
    body = inner.get(key) if key is not None else None
    if key is None:
        result = Normalized("unknown", "unknown:empty")
    elif key in MEDIA_KEYS and isinstance(body, dict):
        result = _media(key, body, media_id_prefix)
    elif key == "protocolMessage" and isinstance(body, dict):
        result = _protocol(body, quotes)
    else:
        result = _simple(key, body) or Normalized("unknown", f"unknown:{key[:60]}")
    extra = _context(body, quotes) if isinstance(body, dict) else {}
    content = {**extra, **result.content}
    for flag in flags:
        content[flag] = True
    return Normalized(result.kind, result.type, content, result.media)
