"""Normalize one Meta message object (inbound or echo) into kind, type, content and media."""

from __future__ import annotations

from typing import Any

from archive.events import MEDIA_KINDS, MediaRef, Normalized, reaction_content
from archive.meta.shapes import dicts, items, obj, pick, text
from archive.timestamps import from_unix_seconds, iso_utc

_CONTEXT_KEYS = ("from", "id", "forwarded", "frequently_forwarded", "referred_product")


def _media(message: dict[str, Any], kind: str) -> tuple[dict[str, Any], tuple[MediaRef, ...]]:
    body = obj(message, kind)
    content: dict[str, Any] = pick(body, "caption", "filename", "voice", "animated")
    media_id = text(body, "id")
    if media_id is None:
        content["media_missing_id"] = True
        return content, ()
    ref = MediaRef(
        media_id=media_id,
        mime_type=text(body, "mime_type"),
        provider_sha256=text(body, "sha256"),
        filename=text(body, "filename"),
        kind=kind,
    )
    return content, (ref,)


def _call_permission(body: dict[str, Any]) -> dict[str, Any]:
    """The user's answer to a call permission request, said in words as well as fields.

    ``response`` is ``accept`` or ``reject``; a temporary permission has an
    ``expiration_timestamp`` (unix seconds); ``response_source`` is ``user_action`` or
    ``automatic`` (granted by calling the business).
    """
    reply = pick(body, "response", "is_permanent", "expiration_timestamp", "response_source")
    response = (text(body, "response") or "").strip().lower()
    permission = {"accept": "accepted", "reject": "rejected"}.get(response, "unknown")
    expires = from_unix_seconds(body.get("expiration_timestamp"))
    source = text(body, "response_source")
    reply["permission"] = permission
    reply["expires_at"] = iso_utc(expires) if expires else None
    details = [f"until {reply['expires_at']}" if expires else None,
               "permanent" if body.get("is_permanent") is True else None,
               f"source: {source}" if source else None]
    said = ", ".join(d for d in details if d)
    reply["title"] = f"Call permission {permission}" + (f" ({said})" if said else "")
    return reply


def _interactive(message: dict[str, Any], legacy_calls: bool = False) -> dict[str, Any]:
    body = obj(message, "interactive")
    reply_type = text(body, "type")
    reply: dict[str, Any] = {"type": reply_type}
    if reply_type in ("button_reply", "list_reply"):
        reply.update(pick(obj(body, reply_type), "id", "title", "description"))
    elif reply_type == "nfm_reply":
        reply.update(pick(obj(body, "nfm_reply"), "name", "body", "response_json"))
    elif reply_type == "call_permission_reply" and not legacy_calls:
        reply.update(_call_permission(obj(body, "call_permission_reply")))
    else:
        reply["raw"] = body
    return {"interactive": reply}


def _reaction(message: dict[str, Any]) -> dict[str, Any]:
    body = obj(message, "reaction")
    # Meta sends an empty emoji when the customer removes a reaction.
    return reaction_content(text(body, "message_id"), text(body, "emoji"))


def _simple_content(
    message: dict[str, Any], message_type: str, legacy_calls: bool
) -> dict[str, Any] | None:
    if message_type == "text":
        return {"text": text(obj(message, "text"), "body")}
    if message_type == "location":
        return {"location": pick(obj(message, "location"), "latitude", "longitude", "name",
                                 "address", "url")}
    if message_type == "contacts":
        return {"contacts": list(dicts(items(message, "contacts")))}
    if message_type == "interactive":
        return _interactive(message, legacy_calls)
    if message_type == "button":
        return {"button": pick(obj(message, "button"), "payload", "text")}
    if message_type == "order":
        return {"order": obj(message, "order")}
    return None


def _common(message: dict[str, Any]) -> dict[str, Any]:
    """Fields any message type may carry: reply context, group, ad referral, errors."""
    content: dict[str, Any] = {}
    context = obj(message, "context")
    if context:
        content["context"] = pick(context, *_CONTEXT_KEYS)
        if text(context, "id"):
            content["referenced_message_id"] = text(context, "id")
    for key in ("group_id", "from_user_id", "to_user_id"):
        if text(message, key):
            content[key] = text(message, key)
    for key in ("referral", "identity"):
        if obj(message, key):
            content[key] = obj(message, key)
    errors = dicts(items(message, "errors"))
    if errors:
        content["errors"] = list(errors)
    return content


def _edit_or_revoke(message: dict[str, Any], message_type: str, legacy_calls: bool) -> Normalized:
    body = obj(message, message_type)
    original = text(body, "original_message_id") or text(body, "message_id")
    content: dict[str, Any] = {"original_message_id": original, "referenced_message_id": original}
    if message_type == "revoke":
        return Normalized("delete", "revoke", content)
    new_message = obj(body, "message")
    media: tuple[MediaRef, ...] = ()
    if new_message:
        inner = normalize_message(new_message, legacy_calls=legacy_calls)
        content["edited"] = {"type": inner.type, **inner.content}
        media = inner.media
    return Normalized("edit", "edit", content, media)


def normalize_message(message: dict[str, Any], *, legacy_calls: bool = False) -> Normalized:
    """Kind, type, content and media refs of one message; unknown types are kept, not dropped.

    ``legacy_calls``: as before issue #19 (a call permission reply kept only as ``raw``).
    """
    message_type = text(message, "type") or ""
    common = _common(message)
    if message_type in MEDIA_KINDS:
        content, media = _media(message, message_type)
        return Normalized("message", message_type, {**common, **content}, media)
    if message_type == "reaction":
        return Normalized("reaction", "reaction", {**common, **_reaction(message)})
    if message_type == "system":
        system = pick(obj(message, "system"), "body", "type", "wa_id", "new_wa_id", "customer",
                      "user_id", "new_user_id")
        return Normalized("system", "system", {**common, "system": system})
    if message_type in ("edit", "revoke"):
        result = _edit_or_revoke(message, message_type, legacy_calls)
        return Normalized(result.kind, result.type, {**common, **result.content}, result.media)
    simple = _simple_content(message, message_type, legacy_calls)
    if simple is not None:
        return Normalized("message", message_type, {**common, **simple})
    # Meta's own "unsupported"/"unknown" types land here too, with their errors[].
    return Normalized("unknown", f"unknown:{message_type}", common)
