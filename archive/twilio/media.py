"""The media a Twilio webhook lists, and the Media resource URLs they are fetched from.

An incoming message carries ``NumMedia`` and, per item N, ``MediaUrlN`` (a Media
resource, ``https://api.twilio.com/2010-04-01/Accounts/AC.../Messages/MM.../Media/ME...``)
and ``MediaContentTypeN``. The Media SID (``ME...``) at the end of the path is the media
id: stable across deliveries and unique in the message. Twilio gives no hash, no size
and no file name. The hosts media is fetched from by default (the API host, then the
media host it redirects to) are in archive.media_hosts.PROVIDER_MEDIA_HOSTS.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archive.canonical import sha256_hex
from archive.twilio.form import Params, first, present

# WhatsApp sends one file per message and MMS at most ten; more is not a Twilio webhook.
MAX_MEDIA_ITEMS = 50
_SID = r"[A-Za-z0-9]{2,64}"
_MEDIA_PATH = re.compile(
    rf"\A/2010-04-01/Accounts/({_SID})/Messages/({_SID})/Media/({_SID})\Z"
)
_MEDIA_URL_NAME = re.compile(r"\AMediaUrl(0|[1-9][0-9]{0,5})\Z")


@dataclass(frozen=True)
class MediaPath:
    """What a Media resource URL names."""

    account_sid: str
    message_sid: str
    media_sid: str


@dataclass(frozen=True)
class MediaEntry:
    index: int
    url: str
    content_type: str | None
    media_id: str


def media_path(url: str) -> MediaPath | None:
    """The account, message and media SIDs of a Media resource URL; None if it is not one."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("https", "http") or not parts.netloc:
        return None
    match = _MEDIA_PATH.match(parts.path)
    if match is None:
        return None
    return MediaPath(match.group(1), match.group(2), match.group(3))


def media_kind(content_type: str | None, message_type: str | None) -> str:
    """image, audio, video, sticker or document (the archive's media kinds)."""
    if message_type == "sticker":
        return "sticker"
    base = (content_type or "").split(";", 1)[0].strip().lower()
    for kind in ("image", "audio", "video"):
        if base.startswith(kind + "/"):
            return kind
    return "document"


def _indices(params: Params, problems: list[str]) -> list[int]:
    """Item numbers from NumMedia and from the MediaUrlN names actually present."""
    listed = {int(m.group(1)) for name in params if (m := _MEDIA_URL_NAME.match(name))}
    raw = present(params, "NumMedia")
    count = 0
    if raw is not None:
        if raw.isascii() and raw.isdigit() and len(raw) <= 6:
            count = int(raw)
        else:
            problems.append("NumMedia is not a number")
    wanted = sorted(listed | set(range(min(count, MAX_MEDIA_ITEMS + 1))))
    if len(wanted) > MAX_MEDIA_ITEMS:
        problems.append(f"more than {MAX_MEDIA_ITEMS} media items; the rest are not fetched")
        wanted = wanted[:MAX_MEDIA_ITEMS]
    for index in sorted(listed - set(range(count))):
        problems.append(f"MediaUrl{index} is beyond NumMedia")
    return wanted


def media_entries(params: Params, problems: list[str]) -> list[MediaEntry]:
    """One entry per listed media item with a URL, in item order; gaps become problems."""
    entries: list[MediaEntry] = []
    seen: set[str] = set()
    for index in _indices(params, problems):
        url = present(params, f"MediaUrl{index}")
        if url is None:
            problems.append(f"media item {index} has no MediaUrl{index}")
            continue
        path = media_path(url)
        if path is not None:
            media_id = path.media_sid
        else:
            # Still listed (and shown as unavailable), under an id a redelivery repeats.
            problems.append(f"MediaUrl{index} is not a Twilio Media resource URL")
            media_id = f"twilio-media{index}-{sha256_hex(url.encode('utf-8', 'replace'))[:24]}"
        if media_id in seen:
            problems.append(f"MediaUrl{index} repeats media {media_id}")
            continue
        seen.add(media_id)
        entries.append(MediaEntry(index, url, first(params, f"MediaContentType{index}"), media_id))
    return entries


def params_of(fragment: Mapping[str, Any]) -> Params:
    """A Twilio event's fragment (the form as a dict of lists) back as params.

    The fragment travels through JSON; anything that is not a list of strings is left
    out rather than trusted.
    """
    return {
        name: [value for value in values if isinstance(value, str)]
        for name, values in fragment.items()
        if isinstance(name, str) and isinstance(values, list)
    }


def media_url_for(fragment: Mapping[str, Any], media_id: str) -> str | None:
    """The MediaUrlN of ``media_id`` in a webhook's fragment (what the fetcher downloads)."""
    for entry in media_entries(params_of(fragment), []):
        if entry.media_id == media_id:
            return entry.url
    return None
