"""Which texts of a canonical record (archive/record.py) the lexicon reads, by field path.

- ``content.text``: a text message's body (every provider), or a media message's text;
- ``content.caption``: a media caption;
- ``content.filename``: a document's file name;
- ``content.edited.text`` / ``.caption`` / ``.filename``: the new version in an edit;
- ``media[i].filename``: a media item's file name, when it differs from ``content.filename``
  (Meta repeats it there; other providers may only have it here).

Only ``message`` and ``edit`` events are read. Interactive replies, button texts, contacts
and locations are not read yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

READ_EVENTS = frozenset({"message", "edit"})
_CONTENT_KEYS = ("text", "caption", "filename")


def _strings(content: Mapping[str, Any], prefix: str) -> list[tuple[str, str]]:
    return [
        (f"{prefix}.{key}", content[key]) for key in _CONTENT_KEYS
        if isinstance(content.get(key), str) and content[key]
    ]


def text_fields(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field path, text)`` pairs to evaluate, in a stable order; [] for other events."""
    if record.get("event") not in READ_EVENTS:
        return []
    content = record.get("content")
    content = content if isinstance(content, Mapping) else {}
    fields = _strings(content, "content")
    edited = content.get("edited")
    if isinstance(edited, Mapping):
        fields += _strings(edited, "content.edited")
    known = {text for path, text in fields if path.endswith(".filename")}
    media = record.get("media")
    for index, item in enumerate(media if isinstance(media, list) else []):
        name = item.get("filename") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name and name not in known:
            fields.append((f"media[{index}].filename", name))
    return fields
