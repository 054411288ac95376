"""RSMF 2.0 (Relativity Short Message Format) productions for review platforms (issue #12).

One RSMF file per conversation (or per part of one, see :func:`split_entries`): an RFC 5322
message whose single attachment ``rsmf.zip`` holds ``rsmf_manifest.json`` (schema
``http://relativity.com/RSMF/2.0.0/schema.json``) and the media it names. Mapping:

- one RSMF event per :class:`Entry`; messages and calls are ``message`` events (the schema
  has no call type, and a call is a communication by a participant with a direction, not a
  conversation notice), Meta system notices are ``history``, and unknown content and
  statuses/edits/deletes/reactions whose message is not in the export are ``unknown``;
  nothing is dropped, and every event names its archive record in ``custom``;
- ``direction``: inbound (from the customer) is ``incoming``, outbound ``outgoing``: the
  custodian is the firm's WhatsApp number;
- delivered / read / played statuses become ``read_receipts`` (played counts as read),
  the whole status timeline stays in ``custom``; reactions show their final state per
  person, edits chain ``previous`` -> ``new`` from the text as first sent;
- a reply points to its quoted message with ``parent`` when that message is in the file.

Determinism: the same entries and attachments give the same bytes. ``export_id`` and
``generator`` appear only in ``X-RSMF-*`` headers, outside the Subject/From/To/Date/body/
attachment hash Relativity deduplicates on, so a re-export deduplicates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any, BinaryIO

from archive.export.conversation import Conversation, Entry, conflict_of, latest_status
from archive.export.rsmf_eml import (
    MANIFEST_NAME,
    RsmfAttachment,
    RsmfError,
    address,
    write_eml,
    write_zip,
)
from archive.export.rsmf_text import (
    UNKNOWN_PARTICIPANT,
    People,
    custom_fields,
    event_body,
    media_gap,
)
from archive.layout import extension_for_mime
from archive.timestamps import iso_utc

__all__ = [
    "RSMF_VERSION", "RsmfAttachment", "RsmfError", "RsmfSummary", "attachment_name",
    "rsmf_manifest", "split_entries", "write_rsmf",
]

RSMF_VERSION = "2.0.0"
PLATFORM = "whatsapp"
APPLICATION = "WhatsApp"
_DIRECTION = {"inbound": "incoming", "outbound": "outgoing"}
_RECEIPT = {"delivered": "delivered", "read": "read", "played": "read"}
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RsmfSummary:
    conversation_key: str
    event_count: int  # X-RSMF-EventCount
    attachment_count: int  # X-RSMF-AttachmentCount: attachment references across events
    file_count: int  # distinct media files in rsmf.zip (the manifest not counted)
    media_gaps: int  # media the events mention but the file does not carry
    begin: datetime
    end: datetime
    participants: tuple[str, ...]
    message_id: str
    zip_size: int
    zip_sha256: str
    size: int  # of the .rsmf file written to ``out``
    sha256: str


def attachment_name(media: Mapping[str, Any]) -> str | None:
    """Zip name of a stored media file: our sha256 plus its type's extension (else None).

    Content-addressed, so one file shared by two messages is stored once, and the name is
    portable and free of provider text.
    """
    sha = media.get("sha256")
    if media.get("state") != "stored" or not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        return None
    mime = media.get("mime_type") or media.get("provider_mime_type")
    return sha + extension_for_mime(mime if isinstance(mime, str) else None)


def _stored_sizes(entry: Entry) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for media in entry.media:
        sha, size = media.get("sha256"), media.get("size")
        if media.get("state") == "stored" and isinstance(sha, str) and isinstance(size, int):
            sizes[sha] = size
    return sizes


def _encoded_size(size: int) -> int:
    return (size + 56) // 57 * 78  # base64 lines of 76 characters plus CRLF


def split_entries(conversation: Conversation, *, max_events: int = 10_000,
                  max_bytes: int = 2 * 1024**3) -> list[list[Entry]]:
    """The conversation's entries in consecutive parts, each one RSMF file.

    Relativity recommends at most 10,000 events and 2 GB per file. One entry is one event
    and never straddles parts (its statuses, edits and reactions travel with it).
    ``max_bytes`` bounds the media of a part as the file carries them (base64), each file
    counted once per part; an entry whose own media exceed it gets a part of its own.
    """
    if max_events < 1 or max_bytes < 1:
        raise ValueError("max_events and max_bytes must be positive")
    parts: list[list[Entry]] = []
    current: list[Entry] = []
    seen: set[str] = set()
    used = 0
    for entry in conversation.entries:
        own = _stored_sizes(entry)
        cost = sum(_encoded_size(size) for sha, size in own.items() if sha not in seen)
        if current and (len(current) >= max_events or used + cost > max_bytes):
            parts.append(current)
            current, seen, used = [], set(), 0
            cost = sum(_encoded_size(size) for size in own.values())
        current.append(entry)
        seen.update(own)
        used += cost
    if current:
        parts.append(current)
    return parts


class _Builder:
    """Builds the events of one manifest, collecting the participants they reference."""

    def __init__(self, conversation: Conversation, entries: Sequence[Entry],
                 attachments: Mapping[str, RsmfAttachment]) -> None:
        self.conversation = conversation
        self.people = People(conversation)
        self.attachments = attachments
        self.referenced: dict[str, None] = {}
        self.ids: dict[str, str] = {}  # message id -> first event id (for parent)
        self.used_ids: set[str] = set()
        self.gaps = 0
        self.events = [self.event(entry) for entry in entries]

    def pid(self, party: str | None) -> str:
        pid = party or UNKNOWN_PARTICIPANT
        self.referenced.setdefault(pid, None)
        return pid

    def event_id(self, entry: Entry) -> str:
        base = entry.message_id or entry.record_path
        candidate, n = base, 1
        while candidate in self.used_ids:  # conflict siblings share a message id
            n += 1
            candidate = f"{base}#{n}"
        self.used_ids.add(candidate)
        if entry.kind == "message":
            self.ids.setdefault(entry.message_id, candidate)
        return candidate

    def event(self, entry: Entry) -> dict[str, Any]:
        event: dict[str, Any] = {"id": self.event_id(entry), "type": _event_type(entry)}
        if entry.quoted_id and entry.quoted_id in self.ids:
            event["parent"] = self.ids[entry.quoted_id]
        notes: list[str] = []
        files: list[dict[str, Any]] = []
        for media in entry.media:
            sha = media.get("sha256") if media.get("state") == "stored" else None
            attachment = self.attachments.get(sha) if isinstance(sha, str) else None
            if attachment is None:
                self.gaps += 1
                notes.append(media_gap(media))
                continue
            display = media.get("filename") if isinstance(media.get("filename"), str) else None
            files.append({"id": attachment.name, "display": display or attachment.name,
                          "size": attachment.size})
        event["body"] = "\n".join(part for part in (event_body(entry), *notes) if part)
        if entry.sender:
            event["participant"] = self.pid(entry.sender)
        event["conversation"] = self.conversation.key
        event["timestamp"] = iso_utc(entry.at)
        if entry.deleted_at is not None:
            event["deleted"] = True
        if direction := _DIRECTION.get(entry.direction):
            event["direction"] = direction
        if files:
            event["attachments"] = files
        self.add_reactions(event, entry)
        self.add_edits(event, entry)
        self.add_receipts(event, entry)
        event["custom"] = self.custom(entry, notes)
        return {key: value for key, value in event.items() if value != []}

    def add_reactions(self, event: dict[str, Any], entry: Entry) -> None:
        final: dict[str | None, str | None] = {}
        for reaction in entry.reactions:  # time-ordered: a later one replaces or removes
            final[reaction.by] = reaction.emoji
        by_emoji: dict[str, list[str]] = {}
        for by, emoji in final.items():
            if emoji:
                by_emoji.setdefault(emoji, []).append(self.pid(by))
        event["reactions"] = [{"value": emoji, "count": len(people),
                               "participants": sorted(people)}
                              for emoji, people in sorted(by_emoji.items())]

    def add_edits(self, event: dict[str, Any], entry: Entry) -> None:
        edits, previous = [], entry.text
        for version in entry.edits:
            edit: dict[str, Any] = {"participant": self.pid(entry.sender),
                                    "timestamp": iso_utc(version.at)}
            if previous is not None:
                edit["previous"] = previous
            if version.text is not None:
                edit["new"] = version.text
                previous = version.text
            edits.append(edit)
        event["edits"] = edits

    def add_receipts(self, event: dict[str, Any], entry: Entry) -> None:
        first: dict[tuple[str, str], datetime] = {}
        single = entry.recipients[0] if len(entry.recipients) == 1 else None
        for step in entry.statuses if entry.kind != "call" else ():
            action = _RECEIPT.get(step.value)
            who = step.recipient or single
            if action and who:
                key = (who, action)  # statuses may arrive out of order: keep the earliest
                first[key] = min(first.get(key, step.at), step.at)
        receipts = sorted((at, who, action) for (who, action), at in first.items())
        event["read_receipts"] = [{"participant": self.pid(who), "timestamp": iso_utc(at),
                                   "action": action} for at, who, action in receipts]

    def custom(self, entry: Entry, notes: list[str]) -> list[dict[str, str]]:
        steps = "; ".join(
            f"{s.value} {iso_utc(s.at)}" + (f" ({s.recipient})" if s.recipient else "")
            + (f" errors: {_errors(s.errors)}" if s.errors else "") for s in entry.statuses)
        shown = latest_status(entry) if entry.kind != "call" else None
        reactions = "; ".join(f"{r.emoji or 'removed'} by {r.by or '?'} {iso_utc(r.at)}"
                              for r in entry.reactions)
        paths = [entry.record_path, *(s.record_path or "" for s in entry.statuses),
                 *(v.record_path for v in entry.edits), *(r.record_path for r in entry.reactions)]
        conflicts = "; ".join(p for p in paths if conflict_of(p))
        errors = entry.record.get("content", {}).get("errors") if isinstance(
            entry.record.get("content"), dict) else None
        return custom_fields([
            ("Kind", entry.kind if entry.kind != "message" else None),
            ("WhatsApp message ID", entry.message_id),
            ("WhatsApp type", entry.type),
            ("Archive record", entry.record_path),
            ("Quoted message ID", entry.quoted_id),
            ("Status", shown.value if shown else None),
            ("Call events" if entry.kind == "call" else "Status history", steps),
            ("Reaction history", reactions),
            ("Deleted at", iso_utc(entry.deleted_at) if entry.deleted_at else None),
            ("Errors", _errors(errors) if isinstance(errors, list) else None),
            ("Media not included", "; ".join(notes)),
            ("Conflicting versions kept", conflicts),
        ])


def _errors(errors: Sequence[Any]) -> str:
    return "; ".join(
        f"{e.get('code', '?')} {e.get('title') or e.get('message') or ''}".strip()
        for e in errors if isinstance(e, dict))


def _event_type(entry: Entry) -> str:
    if entry.kind in ("message", "call"):
        return "message"
    return "history" if entry.kind == "system" else "unknown"


def rsmf_manifest(conversation: Conversation, entries: Sequence[Entry], *,
                  attachments: Mapping[str, RsmfAttachment]) -> dict[str, Any]:
    """The ``rsmf_manifest.json`` of ``entries`` (a part of ``conversation``).

    ``attachments`` maps a media sha256 to its file; stored media without one, and media
    that were never stored, are noted in the event body instead ("media gap").
    """
    return _manifest(conversation, entries, attachments)[0]


def _manifest(conversation: Conversation, entries: Sequence[Entry],
              attachments: Mapping[str, RsmfAttachment]) -> tuple[dict[str, Any], _Builder]:
    for sha, attachment in attachments.items():
        if sha != attachment.sha256:  # the manifest would vouch for other bytes than the zip's
            raise RsmfError(f"attachment {attachment.name} is filed under another sha256")
    builder = _Builder(conversation, entries, attachments)
    people = builder.people
    ordered: dict[str, None] = {}
    for pid in (people.custodian, None if people.group else conversation.customer_id,
                *builder.referenced):
        if pid:
            ordered.setdefault(pid, None)
    participants = [people.participant(pid) for pid in ordered]
    conv: dict[str, Any] = {
        "id": conversation.key, "display": people.conversation_display(),
        "platform": PLATFORM, "type": "channel" if people.group else "direct",
        "participants": list(ordered),
    }
    if people.custodian:
        conv["custodian"] = people.custodian
    conv["custom"] = custom_fields([
        ("WhatsApp business phone number ID", conversation.business_id),
        ("Conversation key", conversation.key),
    ])
    manifest = {"version": RSMF_VERSION, "eventcollectionid": conversation.key,
                "participants": participants, "conversations": [conv],
                "events": builder.events}
    return manifest, builder


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """UTF-8 JSON; a lone surrogate from provider text becomes U+FFFD (the record keeps it)."""
    text = json.dumps(manifest, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def write_rsmf(conversation: Conversation, entries: Sequence[Entry], out: BinaryIO, *,
               attachments: Mapping[str, RsmfAttachment], generator: str, export_id: str,
               scratch: BinaryIO) -> RsmfSummary:
    """Write one RSMF file for ``entries`` to ``out``; ``scratch`` (seekable) holds the zip."""
    if not entries:
        raise RsmfError("an RSMF file needs at least one event")
    manifest, builder = _manifest(conversation, entries, attachments)
    data = manifest_bytes(manifest)
    by_name: dict[str, RsmfAttachment] = {}
    for attachment in attachments.values():
        if by_name.setdefault(attachment.name, attachment).sha256 != attachment.sha256:
            raise RsmfError(f"two different files are both named {attachment.name}")
    names = sorted({file["id"] for event in manifest["events"]
                    for file in event.get("attachments", ())})
    files = [by_name[name] for name in names]
    zip_size = write_zip(scratch, data, files)
    content = hashlib.sha256(data)
    for attachment in files:
        content.update(f"\n{attachment.name} {attachment.sha256}".encode())
    content_id = content.hexdigest()
    begin, end = min(e.at for e in entries), max(e.at for e in entries)
    people = builder.people
    participants = tuple(p["id"] for p in manifest["participants"])
    firm = people.custodian or conversation.business_id or UNKNOWN_PARTICIPANT
    other = conversation.customer_id or firm
    events = manifest["events"]
    refs = sum(len(event.get("attachments", ())) for event in events)
    message_id = f"<{content_id[:40]}@wa-archive.invalid>"
    headers = [
        ("Date", format_datetime(begin)),
        ("From", address(people.name(firm), firm)),
        ("To", address(people.name(other), other)),
        ("Subject", f"{people.conversation_display()}, {begin:%Y-%m-%d %H:%M} to "
                    f"{end:%Y-%m-%d %H:%M} UTC"),
        ("Message-ID", message_id),
        ("X-RSMF-Version", RSMF_VERSION),
        ("X-RSMF-Generator", generator),
        ("X-RSMF-Application", APPLICATION),
        ("X-RSMF-BeginDate", iso_utc(begin)),
        ("X-RSMF-EndDate", iso_utc(end)),
        ("X-RSMF-EventCount", str(len(events))),
        ("X-RSMF-AttachmentCount", str(refs)),
        ("X-RSMF-Participants", ", ".join(people.label(p) for p in participants)),
        ("X-RSMF-Custodian", people.label(firm)),
        ("X-RSMF-EventCollectionID", conversation.key),
        ("X-RSMF-ExportID", export_id),
    ]
    body = (f"WhatsApp conversation {conversation.key}\r\n"
            f"{len(events)} events from {iso_utc(begin)} to {iso_utc(end)}, "
            f"{len(files)} attached files, {builder.gaps} media not included.\r\n"
            f"The conversation is in {MANIFEST_NAME} inside the attached rsmf.zip "
            f"(RSMF {RSMF_VERSION}).\r\n")
    headers = [(name, value) for name, value in headers if value.strip()]
    result = write_eml(out, headers=headers, body=body, zip_stream=scratch,
                       boundary=f"=_rsmf_{content_id[:48]}")
    return RsmfSummary(
        conversation_key=conversation.key, event_count=len(events), attachment_count=refs,
        file_count=len(files), media_gaps=builder.gaps, begin=begin, end=end,
        participants=participants, message_id=message_id, zip_size=zip_size,
        zip_sha256=result.zip_sha256, size=result.size, sha256=result.sha256,
    )
