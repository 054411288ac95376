"""RSMF 2.0 output (issue #12): manifest, zip and EML, checked against the published schema."""

from __future__ import annotations

import email
import hashlib
import json
import re
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # no stubs installed

from archive.encoding import key_segment
from archive.events import conversation_key_of
from archive.export import rsmf_eml
from archive.export.conversation import Conversation, Entry, build_conversations
from archive.export.rsmf import (
    RsmfAttachment,
    RsmfError,
    RsmfSummary,
    attachment_name,
    rsmf_manifest,
    split_entries,
    write_rsmf,
)
from archive.export.rsmf_eml import mailbox
from archive.layout import record_blob_name
from archive.meta.parser import parse_webhook
from archive.record import RawRef, build_record
from archive.timestamps import iso_utc
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "rsmf" /
                     "rsmf_schema_2_0_0.json").read_text(encoding="utf-8"))
VALIDATOR = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")

BIZ = "106540352242922"
FIRM = "15550783881"  # the firm's display number, as records carry it in from/to
CUST = "16315551181"
GREEK = "Ζωή Παπαδοπούλου"
T0 = datetime(2024, 5, 31, 16, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
PDF = b"%PDF-1.7\n" + b"x" * 500


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rec(event: str, mid: str, second: int, *, direction: str = "inbound", type_: str = "text",
        content: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
        media: Iterable[dict[str, Any]] = (), sender: str | None = None,
        to: str | None = None, customer: str = CUST) -> tuple[str, dict[str, Any]]:
    """A ``(record_path, record@1)`` pair with what the conversation model reads."""
    if sender is None and to is None:
        sender, to = (customer, FIRM) if direction == "inbound" else (FIRM, customer)
    at = T0 + timedelta(seconds=second)
    key = conversation_key_of(BIZ, customer)
    suffix = f"-{status['value']}" if status else ""
    path = (f"year=2024/month=05/day=31/meta/{key}/{key_segment(mid)}/"
            f"{int(at.timestamp()):011d}-{event}-{direction}{suffix}.json")
    record = {
        "schema": "wa-archive/record@1", "event": event, "direction": direction,
        "provider": "meta", "message_id": mid, "from": sender, "to": to,
        "conversation": {"business_id": BIZ, "customer_id": customer, "key": key},
        "timestamp": iso_utc(at), "type": type_, "content": content or {}, "status": status,
        "media": list(media), "fragment": {"id": mid, "type": type_},
    }
    return path, record


def stored(data: bytes, kind: str, mime: str, filename: str | None = None) -> dict[str, Any]:
    return {"media_id": f"media-{sha(data)[:8]}", "kind": kind, "state": "stored",
            "sha256": sha(data), "size": len(data), "mime_type": mime, "filename": filename,
            "reason": None}


def status(value: str, mid: str, second: int, **extra: Any) -> tuple[str, dict[str, Any]]:
    return rec("status", mid, second, direction="outbound", type_="status",
               status={"value": value, "recipient": CUST, "errors": extra.pop("errors", [])},
               **extra)


def rich_records() -> list[tuple[str, dict[str, Any]]]:
    contact = {"contact": {"name": GREEK, "wa_id": CUST}}
    image = stored(PNG, "image", "image/png", "form.png")
    missing_from_export = stored(PDF, "document", "application/pdf", "terms.pdf")
    gone = {"media_id": "media-gone", "kind": "document", "state": "unavailable",
            "sha256": None, "size": None, "mime_type": None, "filename": "statement.pdf",
            "reason": "media URL expired (404)"}
    records = [
        rec("message", "m1", 0, content={"text": "Please sell 100 shares", **contact}),
        rec("message", "m2", 60, direction="outbound",
            content={"text": "Confirmed", "context": {"id": "m1"}}),
        # Statuses out of order: read first, a repeated delivered after it.
        status("read", "m2", 90), status("delivered", "m2", 95), status("sent", "m2", 61),
        status("delivered", "m2", 70),
        rec("message", "m3", 120, type_="image", content={"caption": "Signed form", **contact},
            media=[image]),
        rec("message", "m4", 130, type_="document", content=contact, media=[gone]),
        rec("message", "m5", 135, direction="outbound", type_="document",
            media=[missing_from_export]),
        status("failed", "m5", 136, errors=[{"code": 131026, "title": "Message undeliverable"}]),
        rec("reaction", "r1", 140, type_="reaction",
            content={"reaction": {"message_id": "m2", "emoji": "👍"}}),
        rec("reaction", "r2", 150, type_="reaction",
            content={"reaction": {"message_id": "m2", "emoji": "❤️"}}),
        rec("reaction", "r3", 155, direction="outbound", type_="reaction",
            content={"reaction": {"message_id": "m1", "emoji": "👍"}}),
        rec("reaction", "r4", 160, direction="outbound", type_="reaction",
            content={"reaction": {"message_id": "m1", "emoji": ""}, "reaction_removed": True}),
        rec("edit", "e1", 170, type_="edit",
            content={"original_message_id": "m1",
                     "edited": {"type": "text", "text": "Please sell 200 shares"}}),
        rec("delete", "d1", 180, type_="revoke", content={"original_message_id": "m3"}),
        rec("system", "s1", 190, type_="system",
            content={"system": {"body": "Customer changed their number",
                                "type": "customer_changed_number"}}),
        rec("unknown", "u1", 200, type_="unknown:poll",
            content={"errors": [{"code": 131051, "title": "Unsupported message type"}]}),
        rec("reaction", "r5", 220, type_="reaction",
            content={"reaction": {"message_id": "wamid.not-exported", "emoji": "😂"}}),
    ]
    return records


def one(records: list[tuple[str, dict[str, Any]]]) -> Conversation:
    conversations = build_conversations(records)
    assert len(conversations) == 1
    return conversations[0]


def attachments_for(*blobs: bytes, mime: dict[bytes, str] | None = None
                    ) -> dict[str, RsmfAttachment]:
    found = {}
    for data in blobs:
        media = {"state": "stored", "sha256": sha(data),
                 "mime_type": (mime or {}).get(data, "image/png")}
        name = attachment_name(media)
        assert name is not None
        found[sha(data)] = RsmfAttachment(id=f"media-{sha(data)[:8]}", name=name,
                                          sha256=sha(data), size=len(data),
                                          open_content=partial(BytesIO, data))
    return found


def check_manifest(manifest: dict[str, Any]) -> None:
    """Schema-valid, and every reference resolves (what the schema cannot say)."""
    errors = sorted(VALIDATOR.iter_errors(manifest), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    people = {p["id"] for p in manifest["participants"]}
    assert len(people) == len(manifest["participants"])
    conversations = {c["id"]: c for c in manifest["conversations"]}
    for conv in conversations.values():
        assert set(conv["participants"]) <= people
        assert conv.get("custodian") in (None, *conv["participants"])
    ids = [e["id"] for e in manifest["events"]]
    assert len(ids) == len(set(ids))
    for event in manifest["events"]:
        assert event["conversation"] in conversations
        assert RFC3339_UTC.fullmatch(event["timestamp"])
        assert event.get("parent") in (None, *ids)
        referenced = [event.get("participant"),
                      *(r["participant"] for r in event.get("read_receipts", ())),
                      *(e["participant"] for e in event.get("edits", ())),
                      *(p for r in event.get("reactions", ()) for p in r["participants"])]
        assert {p for p in referenced if p is not None} <= people
        for stamp in [*(r["timestamp"] for r in event.get("read_receipts", ())),
                      *(e["timestamp"] for e in event.get("edits", ()))]:
            assert RFC3339_UTC.fullmatch(stamp)


def write(conversation: Conversation, entries: list[Entry] | None = None, *,
          attachments: dict[str, RsmfAttachment] | None = None, export_id: str = "exp-1",
          scratch: BytesIO | None = None) -> tuple[bytes, RsmfSummary]:
    out = BytesIO()
    summary = write_rsmf(conversation, conversation.entries if entries is None else entries, out,
                         attachments=attachments or {}, generator="wa-archive 0.1.0",
                         export_id=export_id, scratch=scratch or BytesIO())
    return out.getvalue(), summary


def parse(raw: bytes) -> tuple[EmailMessage, dict[str, Any], zipfile.ZipFile]:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    parts = list(message.iter_attachments())
    assert len(parts) == 1 and parts[0].get_filename() == "rsmf.zip"
    assert parts[0]["Content-Transfer-Encoding"] == "base64"
    archive = zipfile.ZipFile(BytesIO(parts[0].get_content()))
    assert archive.testzip() is None
    manifest = json.loads(archive.read("rsmf_manifest.json"))
    return message, manifest, archive


def check_zip_matches(manifest: dict[str, Any], archive: zipfile.ZipFile) -> None:
    named = {a["id"] for e in manifest["events"] for a in e.get("attachments", ())}
    files = set(archive.namelist()) - {"rsmf_manifest.json"}
    assert named == files  # both ways: nothing missing, nothing unreferenced
    for info in archive.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.compress_type == zipfile.ZIP_STORED


def events_by_id(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in manifest["events"]}


def custom(event: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["value"] for c in event.get("custom", ())}


def test_rich_manifest_is_valid_and_maps_every_feature() -> None:
    conversation = one(rich_records())
    manifest = rsmf_manifest(conversation, conversation.entries,
                             attachments=attachments_for(PNG))
    check_manifest(manifest)
    assert manifest["version"] == "2.0.0"
    (conv,) = manifest["conversations"]
    assert conv["platform"] == "whatsapp" and conv["type"] == "direct"
    assert conv["custodian"] == FIRM and CUST in conv["participants"]
    people = {p["id"]: p for p in manifest["participants"]}
    assert people[CUST]["display"] == GREEK
    assert custom(people[FIRM])["Role"] == "firm"
    events = events_by_id(manifest)
    assert len(events) == len(conversation.entries)  # one event per entry, nothing dropped

    m1, m2 = events["m1"], events["m2"]
    assert m1["direction"] == "incoming" and m2["direction"] == "outgoing"
    assert m1["participant"] == CUST and m2["participant"] == FIRM
    assert m2["parent"] == "m1" and custom(m2)["Quoted message ID"] == "m1"
    # Edit: the body stays as first sent, the edit chains previous -> new.
    assert m1["body"] == "Please sell 100 shares"
    assert m1["edits"] == [{"participant": CUST, "timestamp": "2024-05-31T16:02:50Z",
                            "previous": "Please sell 100 shares",
                            "new": "Please sell 200 shares"}]
    # The firm's reaction on m1 was removed; the customer's on m2 changed from 👍 to ❤️.
    assert "reactions" not in m1 and "removed by" in custom(m1)["Reaction history"]
    assert m2["reactions"] == [{"value": "❤️", "count": 1, "participants": [CUST]}]
    assert m2["read_receipts"] == [
        {"participant": CUST, "timestamp": "2024-05-31T16:01:10Z", "action": "delivered"},
        {"participant": CUST, "timestamp": "2024-05-31T16:01:30Z", "action": "read"},
    ]
    assert custom(m2)["Status"] == "read"
    assert custom(m2)["Status history"].startswith("sent 2024-05-31T16:01:01Z")

    m3, m4, m5 = events["m3"], events["m4"], events["m5"]
    assert m3["deleted"] is True and custom(m3)["Deleted at"] == "2024-05-31T16:03:00Z"
    assert m3["body"] == "Signed form"
    assert m3["attachments"] == [{"id": f"{sha(PNG)}.png", "display": "form.png",
                                  "size": len(PNG)}]
    assert "attachments" not in m4
    assert "document not included: media URL expired (404)" in m4["body"]
    assert "statement.pdf" in m4["body"] and "Media not included" in custom(m4)
    assert "not included in this file" in m5["body"]  # stored, but not given to the writer
    assert custom(m5)["Status"] == "failed" and "131026" in custom(m5)["Status history"]

    assert events["s1"]["type"] == "history"
    assert events["s1"]["body"] == "Customer changed their number"
    assert events["u1"]["type"] == "unknown" and "unknown:poll" in events["u1"]["body"]
    assert "131051" in custom(events["u1"])["Errors"]
    orphan = events["wamid.not-exported"]
    assert orphan["type"] == "unknown" and custom(orphan)["Kind"] == "reaction"
    assert orphan["reactions"] == [{"value": "😂", "count": 1, "participants": [CUST]}]
    assert all(custom(e)["Archive record"].endswith(".json") for e in events.values())


def records_from_fixtures(*names: str) -> list[tuple[str, dict[str, Any]]]:
    raw = RawRef(path="year=2024/month=05/day=31/" + "a" * 64 + ".json", sha256="a" * 64)
    found = []
    for name in names:
        for event in parse_webhook(fixture_bytes(name)).events:
            record = build_record(event, raw=raw, received_at=event.timestamp)
            found.append((record_blob_name(event), record))
    return found


def test_a_call_from_the_meta_parser_is_a_message_event_with_its_call_events() -> None:
    conversation = one(records_from_fixtures("text", "calls_user_initiated_connect",
                                             "calls_terminate"))
    manifest = rsmf_manifest(conversation, conversation.entries, attachments={})
    check_manifest(manifest)
    (call,) = [e for e in manifest["events"] if custom(e).get("Kind") == "call"]
    assert call["type"] == "message" and call["direction"] == "incoming"
    assert call["participant"] == CUST
    assert call["body"].startswith("WhatsApp call from the customer; outcome: completed")
    assert "duration: 2 min 0 s" in call["body"]
    assert custom(call)["Call events"].startswith("connect ")
    assert "terminate" in custom(call)["Call events"] and "read_receipts" not in call


def test_a_group_is_a_channel() -> None:
    conversation = one(records_from_fixtures("group_text", "status_group"))
    manifest = rsmf_manifest(conversation, conversation.entries, attachments={})
    check_manifest(manifest)
    (conv,) = manifest["conversations"]
    assert conv["type"] == "channel" and conv["display"].startswith("WhatsApp group ")
    people = {p["id"]: p for p in manifest["participants"]}
    assert custom(people[CUST])["Role"] == "group member"


def test_the_eml_carries_one_zip_that_matches_its_manifest_both_ways() -> None:
    conversation = one(rich_records())
    attachments = attachments_for(PNG, PDF, mime={PDF: "application/pdf"})
    raw, summary = write(conversation, attachments=attachments)
    message, manifest, archive = parse(raw)
    check_manifest(manifest)
    check_zip_matches(manifest, archive)
    assert manifest == rsmf_manifest(conversation, conversation.entries, attachments=attachments)
    assert archive.namelist()[0] == "rsmf_manifest.json"
    assert archive.read(f"{sha(PNG)}.png") == PNG and archive.read(f"{sha(PDF)}.pdf") == PDF
    assert message["X-RSMF-Version"] == "2.0.0"
    assert message["X-RSMF-Generator"] == "wa-archive 0.1.0"
    assert message["X-RSMF-Application"] == "WhatsApp"
    assert message["X-RSMF-BeginDate"] == "2024-05-31T16:00:00Z"
    assert message["X-RSMF-EndDate"] == iso_utc(conversation.entries[-1].at)
    assert message["X-RSMF-EventCount"] == str(len(manifest["events"])) == str(
        summary.event_count)
    assert message["X-RSMF-AttachmentCount"] == "2" == str(summary.attachment_count)
    assert message["X-RSMF-EventCollectionID"] == conversation.key
    assert message["X-RSMF-ExportID"] == "exp-1"
    assert f"{GREEK} ({CUST})" in str(message["X-RSMF-Participants"])
    assert message["Date"].datetime == T0  # the first event, never the clock
    assert message["From"].addresses[0].addr_spec == mailbox(FIRM)
    assert message["To"].addresses[0].display_name == GREEK
    assert GREEK in str(message["Subject"])
    assert message.get_content_type() == "multipart/mixed"
    assert (message.get_boundary() or "").startswith("=_rsmf_")
    raw.decode("ascii")  # RFC 5322: 7-bit; non-Latin text travels as RFC 2047 words
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert summary.sha256 == sha(raw) and summary.size == len(raw)
    assert summary.file_count == 2 and summary.media_gaps == 1
    assert summary.zip_sha256 == sha(next(message.iter_attachments()).get_content())


def test_the_same_input_gives_the_same_bytes() -> None:
    conversation = one(rich_records())
    first, _ = write(conversation, attachments=attachments_for(PNG))
    second, _ = write(one(list(reversed(rich_records()))), attachments=attachments_for(PNG))
    assert first == second
    # Another export run changes only its own header: the dedupe fields stay identical.
    third, _ = write(conversation, attachments=attachments_for(PNG), export_id="exp-2")
    a, b = (email.message_from_bytes(raw, policy=policy.default) for raw in (first, third))
    assert [k for k in a if a[k] != b[k]] == ["X-RSMF-ExportID"]
    assert a.get_body() is not None and b.get_body() is not None
    assert first.split(b"\r\n\r\n", 1)[1] == third.split(b"\r\n\r\n", 1)[1]


def test_short_reads_from_the_scratch_file_change_nothing() -> None:
    class ShortReads(BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(size, 1000) if size is not None and size > 0 else size)

    conversation = one(rich_records())
    normal, _ = write(conversation, attachments=attachments_for(PNG))
    short, _ = write(conversation, attachments=attachments_for(PNG), scratch=ShortReads())
    assert normal == short


def many(count: int, media: list[bytes | None] | None = None) -> Conversation:
    records = []
    for i in range(count):
        data = media[i] if media else None
        records.append(rec("message", f"m{i:03d}", i, type_="image" if data else "text",
                           content={"text": f"message {i}"},
                           media=[stored(data, "image", "image/png")] if data else []))
    return one(records)


def test_split_at_max_events_keeps_every_entry_once_and_in_order() -> None:
    conversation = many(5)
    parts = split_entries(conversation, max_events=2)
    assert [len(part) for part in parts] == [2, 2, 1]
    assert [e for part in parts for e in part] == conversation.entries
    for part in parts:
        raw, summary = write(conversation, part)
        message, manifest, _ = parse(raw)
        check_manifest(manifest)
        assert summary.event_count == len(part)
        assert message["X-RSMF-EventCollectionID"] == conversation.key  # parts stay together


def test_split_at_max_bytes_counts_media_as_the_file_carries_them() -> None:
    small = [bytes([i]) * 100 for i in range(3)]  # 100 bytes: two base64 lines, 156 bytes
    big = b"B" * 1000
    conversation = many(5, [small[0], small[1], small[1], big, small[2]])
    parts = split_entries(conversation, max_bytes=400)
    # A file shared by two messages counts once; an oversized entry gets a part of its own.
    assert [[e.message_id for e in part] for part in parts] == [
        ["m000", "m001", "m002"], ["m003"], ["m004"]]
    blobs = attachments_for(*small, big)
    for part in parts:
        _, manifest, archive = parse(write(conversation, part, attachments=blobs)[0])
        check_manifest(manifest)
        check_zip_matches(manifest, archive)
    with pytest.raises(ValueError):
        split_entries(conversation, max_events=0)


def test_hostile_names_cannot_inject_headers() -> None:
    evil = "Evil\r\nBcc: victim@example.com\u2028X-Injected: 1\x00\u0085李小龙"
    records = [rec("message", "m1", 0, content={"text": "hi\r\nBcc: x",
                                                "contact": {"name": evil, "wa_id": CUST}})]
    raw, _ = write(one(records), export_id="exp\r\nX-Evil: 1")
    message, manifest, _ = parse(raw)
    assert message["Bcc"] is None and message["X-Injected"] is None and message["X-Evil"] is None
    assert "李小龙" in str(message["X-RSMF-Participants"])
    assert manifest["participants"][1]["display"] == evil  # data stays data, in the JSON
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        assert line[:1].isspace() or re.match(rb"[A-Za-z-]+: ", line), line


def test_group_and_odd_ids_become_valid_addresses() -> None:
    for party in ("120363041234567890@g.us", ".leading", "a..b", "US.13491208655302741918"):
        folded = rsmf_eml.fold_header("To", mailbox(party))
        parsed = email.message_from_bytes(folded + b"\r\n", policy=policy.default)
        assert parsed["To"].addresses[0].addr_spec == mailbox(party)


def test_content_that_does_not_match_the_record_is_refused() -> None:
    conversation = one(rich_records())
    wrong = {sha(PNG): RsmfAttachment(id="x", name=f"{sha(PNG)}.png", sha256=sha(PNG),
                                      size=len(PNG), open_content=lambda: BytesIO(b"other"))}
    with pytest.raises(RsmfError, match="does not match"):
        write(conversation, attachments=wrong)
    misfiled = {sha(PDF): attachments_for(PNG)[sha(PNG)]}
    with pytest.raises(RsmfError, match="another sha256"):
        write(conversation, attachments=misfiled)


def test_unsafe_names_and_empty_parts_are_refused() -> None:
    conversation = one(rich_records())
    for name in ("../evil.png", "rsmf_manifest.json", "a/b.png", ""):
        bad = {sha(PNG): RsmfAttachment(id="x", name=name, sha256=sha(PNG), size=len(PNG),
                                        open_content=lambda: BytesIO(PNG))}
        with pytest.raises(RsmfError):
            write(conversation, attachments=bad)
    with pytest.raises(RsmfError):
        write(conversation, [])


def test_zip64_records_are_written_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rsmf_eml, "ZIP64_LIMIT", 16)  # every size and offset "overflows"
    conversation = one(rich_records())
    _, manifest, archive = parse(write(conversation, attachments=attachments_for(PNG))[0])
    check_zip_matches(manifest, archive)
    assert archive.read(f"{sha(PNG)}.png") == PNG


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    records = [rec("message", "m1", 0, content={"text": "broken \ud83d emoji"})]
    _, manifest, _ = parse(write(one(records))[0])
    assert manifest["events"][0]["body"] == "broken \ufffd emoji"


def test_attachment_names_come_only_from_stored_media() -> None:
    assert attachment_name({"state": "stored", "sha256": "a" * 64,
                            "mime_type": "audio/ogg; codecs=opus"}) == "a" * 64 + ".ogg"
    assert attachment_name({"state": "unavailable", "sha256": "a" * 64}) is None
    assert attachment_name({"state": "stored", "sha256": "../x"}) is None
