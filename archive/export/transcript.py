"""What a transcript says about each entry, shared by the HTML and PDF writers.

The writers only lay out what this module decides: the words, times and marks of every
entry. So both artefacts of a production say the same thing, and a reviewer who compares
the HTML with the PDF (or with the RSMF) finds no disagreement. Everything here is plain
text; escaping is the writer's job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, BinaryIO
from urllib.parse import quote

from archive.export.conversation import CALL, Conversation, Entry, conflict_of, latest_status
from archive.timestamps import from_iso, from_unix_seconds

# Browsers render these inline safely; SVG is excluded because it can carry script.
INLINE_IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/gif",
                                "image/webp"})
# Larger images are linked, not inlined: a transcript must stay openable.
MAX_INLINE_IMAGE_BYTES = 20 * 1024 * 1024
MAX_JSON_CHARS = 4_000  # a fragment beyond this is cut; the whole record is in the bundle
MAX_QUOTE_CHARS = 300
_KIND_TITLES = {
    "message": "Message", "call": "Call", "system": "System event", "unknown": "Unknown event",
    "status": "Status update for a message not in this export",
    "edit": "Edit of a message not in this export",
    "delete": "Deletion of a message not in this export",
    "reaction": "Reaction to a message not in this export",
}


@dataclass(frozen=True)
class ExportedFile:  # a file in the bundle
    bundle_path: str  # e.g. "media/<sha256>.jpg"
    original_name: str | None
    mime_type: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class TranscriptContext:
    export_id: str
    tz: tzinfo  # zoneinfo.ZoneInfo
    period_label: str  # e.g. "2026-03-01 to 2026-05-31" or one day
    files: Mapping[str, ExportedFile]  # by our sha256 from the record's media entry
    open_file: Callable[[ExportedFile], BinaryIO]  # the caller opens the bundle file
    link_prefix: str = "../"  # relative path from the transcript to the bundle root
    # When the export was made (e.g. from the export id): the PDF's creation date, so the
    # same input always gives the same bytes. None means a fixed epoch date.
    created_at: datetime | None = None
    # Messages of the whole export by id, so a reply quotes a message that lies in another
    # day's transcript; empty means "this conversation only". See
    # archive.export.conversation.message_index().
    messages: Mapping[str, Entry] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    label: str
    text: str
    marked: bool = False  # a failure, a deletion, a conflict: shown emphasised


@dataclass(frozen=True)
class MediaView:
    kind: str
    available: bool  # the file is in this bundle
    file: ExportedFile | None
    href: str | None
    inline_image: bool
    description: str  # name, type, size and SHA-256, or why the item is unavailable


@dataclass(frozen=True)
class EntryView:
    anchor: str
    when: str  # local time with offset
    title: str
    direction: str
    sender: str
    recipients: str
    message_id: str
    record_path: str
    notes: tuple[Line, ...]
    quote: str | None
    text: str | None
    details: tuple[Line, ...]
    edits: tuple[Line, ...]
    media: tuple[MediaView, ...]
    timeline: tuple[Line, ...]
    reactions: tuple[Line, ...]


def clean(text: str) -> str:
    """Text safe to encode and lay out: lone surrogates and control characters become U+FFFD.

    Provider text is hostile input; a lone surrogate cannot be written as UTF-8 and a
    control character has no business in a document (newline and tab are kept).
    """
    return "".join(
        "\ufffd" if ("\ud800" <= ch <= "\udfff")
        or (ord(ch) < 32 and ch not in "\n\t") or 127 <= ord(ch) < 160 else ch
        for ch in text
    )


def local_time(at: datetime, tz: tzinfo) -> str:
    """``2026-03-04 14:05:09 +00:00``: local time with its UTC offset, always explicit."""
    local = at.astimezone(tz)
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{local:%Y-%m-%d %H:%M:%S} {sign}{hours:02d}:{mins:02d}"


def compact_json(value: Any, limit: int = MAX_JSON_CHARS) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    if len(text) > limit:
        return text[:limit] + f"... [{len(text) - limit} more characters in the record]"
    return text


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    units = ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value /= 1024
        units.pop(0)
    return f"{size:,} bytes ({value:.1f} {units[0]})"


class Parties:
    """Labels for participants: profile names the records carry, and which side is the firm."""

    def __init__(self, conversation: Conversation) -> None:
        self.names: dict[str, str] = {}
        self.firm: set[str] = {conversation.business_id} if conversation.business_id else set()
        for entry in conversation.entries:
            content = entry.record.get("content")
            contact = content.get("contact") if isinstance(content, dict) else None
            if isinstance(contact, dict) and isinstance(contact.get("name"), str):
                for key in ("wa_id", "user_id", "parent_user_id"):
                    if isinstance(contact.get(key), str):
                        self.names.setdefault(contact[key], contact["name"])
            if entry.direction == "outbound" and entry.sender and entry.kind == "message":
                self.firm.add(entry.sender)
            if entry.direction == "inbound" and entry.kind == "message":
                self.firm.update(entry.recipients)

    def label(self, party: str | None) -> str:
        if not party:
            return "(not recorded)"
        name = self.names.get(party)
        text = f"{name} ({party})" if name else party
        return text + (" [firm]" if party in self.firm else "")


def _quote_text(entry: Entry) -> str:
    text = entry.text or ""
    if entry.media:
        text = f"[{entry.type}] {text}".strip()
    text = text or f"[{entry.type}]"
    if len(text) > MAX_QUOTE_CHARS:
        text = text[:MAX_QUOTE_CHARS] + "..."
    return text


def _quote(entry: Entry, own: Mapping[str, Entry], ctx: TranscriptContext) -> str | None:
    if entry.quoted_id is None:
        return None
    quoted = own.get(entry.quoted_id)
    if quoted is not None:
        return f"{_quote_text(quoted)} (sent {local_time(quoted.at, ctx.tz)})"
    quoted = ctx.messages.get(entry.quoted_id)
    if quoted is not None:
        return (f"{_quote_text(quoted)} (sent {local_time(quoted.at, ctx.tz)}, "
                "in another transcript of this export)")
    return f"message not in this export: {entry.quoted_id}"


def _media_view(media: dict[str, Any], ctx: TranscriptContext) -> MediaView:
    kind = str(media.get("kind") or "media")
    name = media.get("filename")
    state = media.get("state")
    sha = media.get("sha256")
    exported = ctx.files.get(sha) if isinstance(sha, str) and state == "stored" else None
    if exported is None:
        if state == "stored":
            why = "stored in the archive but not included in this export"
        else:
            why = str(media.get("reason") or "no reason recorded")
        state_text = "" if state == "unavailable" else f" ({state or 'unknown state'})"
        label = f"{kind} unavailable{state_text}: {why}"
        ident = f"provider media id {media.get('media_id')}"
        if name:
            ident += f", name {name}"
        return MediaView(kind, False, None, None, False, f"{label}; {ident}")
    mime = exported.mime_type or media.get("mime_type") or "unknown type"
    base_mime = str(mime).split(";", 1)[0].strip().lower()
    parts = [exported.original_name or name or "(no original file name)",
             str(mime), human_size(exported.size), f"SHA-256 {exported.sha256}"]
    href = ctx.link_prefix + quote(exported.bundle_path)
    inline = base_mime in INLINE_IMAGE_TYPES and exported.size <= MAX_INLINE_IMAGE_BYTES
    return MediaView(kind, True, exported, href, inline, f"{kind}: " + ", ".join(parts))


def _errors(errors: Iterable[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        detail = error.get("error_data", {})
        details = detail.get("details") if isinstance(detail, dict) else None
        text = f"error {error.get('code', '?')} {error.get('title') or error.get('message') or ''}"
        parts.append(text.strip() + (f" ({details})" if details else ""))
    return "; ".join(parts)


def _conflict_note(path: str | None) -> str:
    return " [conflicting second version of this record, both kept]" if path and conflict_of(
        path) else ""


def _timeline(entry: Entry, parties: Parties, ctx: TranscriptContext) -> tuple[Line, ...]:
    lines = []
    for step in entry.statuses:
        text = local_time(step.at, ctx.tz)
        if step.recipient:
            text += f", recipient {parties.label(step.recipient)}"
        if step.errors:
            text += f"; {_errors(step.errors)}"
        text += _conflict_note(step.record_path)
        lines.append(Line(step.value, text, step.value in ("failed", "deleted") or bool(
            step.errors)))
    shown = latest_status(entry)
    if shown is not None and entry.kind != CALL:
        lines.append(Line("latest", f"{shown.value} ({local_time(shown.at, ctx.tz)})"))
    return tuple(lines)


def _call_details(entry: Entry, tz: tzinfo) -> list[Line]:
    call = entry.call
    if call is None:
        return []
    direction = {"business_initiated": "business initiated (firm called the customer)",
                 "user_initiated": "user initiated (customer called the firm)"}.get(
        call.direction or "", call.direction or "not recorded")
    if call.duration_seconds is None:
        duration = "not recorded"
    else:
        minutes, seconds = divmod(call.duration_seconds, 60)
        duration = f"{minutes} min {seconds} s ({call.duration_seconds} seconds)"
    lines = [Line("direction", direction), Line("duration", duration),
             Line("outcome", call.outcome or "not recorded")]
    if call.start_time or call.end_time:
        lines.append(Line("start / end", f"{_call_time(call.start_time, tz)} / "
                                         f"{_call_time(call.end_time, tz)}"))
    return lines


def _call_time(value: str | None, tz: tzinfo) -> str:
    """A call time as recorded (unix seconds or ISO-8601), shown like every other time."""
    if not value:
        return "not recorded"
    parsed = from_unix_seconds(value) if value.isdigit() else from_iso(value)
    return local_time(parsed, tz) if parsed else value


def _content_details(entry: Entry) -> list[Line]:
    content = entry.record.get("content")
    content = content if isinstance(content, dict) else {}
    lines: list[Line] = []
    if entry.kind in ("system", "unknown"):
        system = content.get("system")
        if isinstance(system, dict) and system.get("body"):
            lines.append(Line("system", str(system["body"])))
        lines.append(Line("type", entry.type))
        fragment = entry.record.get("fragment")
        lines.append(Line("content", compact_json(content)))
        lines.append(Line("fragment", compact_json(fragment)))
        return lines
    for key in ("location", "contacts", "interactive", "button", "order", "referral"):
        if content.get(key):
            lines.append(Line(key, compact_json(content[key])))
    context = content["context"] if isinstance(content.get("context"), dict) else {}
    if context.get("forwarded") or context.get("frequently_forwarded"):
        lines.append(Line("forwarded", "frequently forwarded" if context.get(
            "frequently_forwarded") else "forwarded"))
    if content.get("voice"):
        lines.append(Line("audio", "voice note"))
    if isinstance(content.get("errors"), list) and content["errors"]:
        lines.append(Line("errors", _errors(e for e in content["errors"]
                                            if isinstance(e, dict)), True))
    if content.get("timestamp_missing"):
        lines.append(Line("time", "provider time missing: the receive time is shown", True))
    if entry.kind == "message" and entry.text is None and not entry.media and not lines:
        lines.append(Line("content", compact_json(content)))
    return lines


def _notes(entry: Entry, ctx: TranscriptContext) -> tuple[Line, ...]:
    notes = []
    base = conflict_of(entry.record_path)
    if base:
        notes.append(Line("conflict", "a second, different version of this event was "
                          f"received and is kept beside {base}", True))
    if entry.is_orphan:
        notes.append(Line("not in export", f"the message {entry.message_id} is not in "
                          "this export; this event refers to it", True))
    if entry.edits:
        notes.append(Line("edited", f"edited {len(entry.edits)} time(s), last at "
                          f"{local_time(entry.edits[-1].at, ctx.tz)}", True))
    if entry.deleted_at is not None:
        by = ("deleted by the customer" if any(s.value == "deleted" for s in entry.statuses)
              else "deleted (revoked) by its sender")
        notes.append(Line("deleted", f"{by} at {local_time(entry.deleted_at, ctx.tz)}; "
                          "the archived content is still shown", True))
    return tuple(notes)


def _edits(entry: Entry, ctx: TranscriptContext) -> tuple[Line, ...]:
    if not entry.edits:
        return ()
    first = "original" if entry.kind == "message" else "original (not in this export)"
    lines = [Line(f"version 1, {first}", f"{local_time(entry.at, ctx.tz)}: "
                  f"{entry.text if entry.text is not None else '(no text)'}")]
    for number, version in enumerate(entry.edits, start=2):
        text = version.text if version.text is not None else "(no text)"
        lines.append(Line(f"version {number}, edited",
                          f"{local_time(version.at, ctx.tz)}: {text}"
                          + _conflict_note(version.record_path), True))
    return tuple(lines)


def _reactions(entry: Entry, parties: Parties, ctx: TranscriptContext) -> tuple[Line, ...]:
    lines = []
    for reaction in entry.reactions:
        who = parties.label(reaction.by)
        when = local_time(reaction.at, ctx.tz) + _conflict_note(reaction.record_path)
        if reaction.emoji is None:
            lines.append(Line("reaction removed", f"by {who} at {when}", True))
        else:
            lines.append(Line("reaction", f"{reaction.emoji} by {who} at {when}"))
    return tuple(lines)


def _title(entry: Entry) -> str:
    title = _KIND_TITLES.get(entry.kind, f"Event '{entry.kind}'")
    if entry.kind == "message":
        return f"{entry.direction.capitalize()} message ({entry.type})"
    return f"{title} ({entry.type})" if entry.type and entry.kind != CALL else title


def entry_views(conversation: Conversation, ctx: TranscriptContext) -> list[EntryView]:
    """The transcript of ``conversation``, entry by entry, in provider-time order."""
    parties = Parties(conversation)
    own = {e.message_id: e for e in reversed(conversation.entries) if e.kind == "message"}
    views = []
    for number, entry in enumerate(conversation.entries, start=1):
        views.append(EntryView(
            anchor=f"e{number}", when=local_time(entry.at, ctx.tz), title=_title(entry),
            direction=entry.direction or "(not recorded)",
            sender=parties.label(entry.sender),
            recipients=", ".join(parties.label(r) for r in entry.recipients) or "(not recorded)",
            message_id=entry.message_id, record_path=entry.record_path,
            notes=_notes(entry, ctx), quote=_quote(entry, own, ctx), text=entry.text,
            details=tuple(_call_details(entry, ctx.tz) + _content_details(entry)),
            edits=_edits(entry, ctx),
            media=tuple(_media_view(m, ctx) for m in entry.media),
            timeline=_timeline(entry, parties, ctx),
            reactions=_reactions(entry, parties, ctx),
        ))
    return views


def header_lines(conversation: Conversation, ctx: TranscriptContext) -> list[Line]:
    parties = Parties(conversation)
    return [
        Line("Export", ctx.export_id),
        Line("Conversation", conversation.key),
        Line("Business", parties.label(conversation.business_id)),
        Line("Customer", parties.label(conversation.customer_id)),
        Line("Participants", ", ".join(parties.label(p) for p in conversation.participants)),
        Line("Period", ctx.period_label),
        Line("Time zone", f"{ctx.tz} (every time is shown with its UTC offset; provider "
                          "time order)"),
        Line("Entries", str(len(conversation.entries))),
    ]
