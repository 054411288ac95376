"""The pure side of a WASender media fetch: what to send to ``POST {base}/decrypt-media``.

WhatsApp media on ``mmg.whatsapp.net`` is encrypted with the message's ``mediaKey``.
WASender's decrypt endpoint takes the webhook's message wrapped as
``{"data": {"messages": {"key": {"id": ...}, "message": {"imageMessage": {...}}}}}``
(image, video, audio, document or sticker) and answers a ``publicUrl`` that serves the
decrypted file for one hour (https://wasenderapi.com/api-docs/messages/decrypt-media-file).
The request is rebuilt from the event's verbatim fragment, found the same way the parser
found the media item, so a media reference can only ever fetch its own message's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archive.events import CanonicalEvent, MediaRef
from archive.meta.shapes import obj, pick, text
from archive.wasender.content import downloadable, file_length, media_id_for, media_of

DECRYPT_PATH = "decrypt-media"
# The media fields decrypt-media reads; caption and reply context are not sent.
_MEDIA_FIELDS = ("url", "directPath", "mimetype", "mediaKey", "mediaKeyTimestamp",
                 "fileSha256", "fileEncSha256", "fileLength", "fileName")
# decrypt-media accepts these keys only; a video note (ptv) is decrypted as a video.
_REQUEST_KEYS = {"ptvMessage": "videoMessage"}


class NotThisEvent(ValueError):
    """The media reference does not name a downloadable item of this event."""


@dataclass(frozen=True)
class DecryptRequest:
    body: dict[str, Any]  # the JSON to POST
    declared_size: int | None  # WhatsApp's fileLength, for refusing oversize media early


def decrypt_request(event: CanonicalEvent, ref: MediaRef) -> DecryptRequest:
    """The decrypt-media body for ``ref``; NotThisEvent (a short reason) if it does not fit."""
    found = media_of(obj(event.fragment, "message"))
    if found is None or media_id_for(event.message_id, found.kind) != ref.media_id:
        raise NotThisEvent("the event's fragment holds no such media item")
    if not downloadable(found.body):
        raise NotThisEvent("the media item has no mediaKey or url")
    key_id = text(obj(event.fragment, "key"), "id") or event.message_id
    media = pick(found.body, *_MEDIA_FIELDS)
    message = {_REQUEST_KEYS.get(found.key, found.key): media}
    return DecryptRequest(
        body={"data": {"messages": {"key": {"id": key_id}, "message": message}}},
        declared_size=file_length(found.body),
    )


def decrypt_url(api_url: str) -> str:
    return f"{api_url.rstrip('/')}/{DECRYPT_PATH}"


def public_url_of(answer: object) -> str | None:
    """decrypt-media's ``publicUrl`` (top level as documented, or under ``data``)."""
    for holder in (answer, obj(answer, "data")):
        url = text(holder, "publicUrl")
        if url:
            return url
    return None
