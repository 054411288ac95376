"""The conversation model of a production (issue #12): records folded into entries.

The scenario is built from the Meta fixtures, parsed by the real parser and turned into
record@1 dicts by ``build_record``, plus hand-built call records (issue #19's shape). The
transcript tests reuse it through :func:`scenario_records`.
"""

from __future__ import annotations

import copy
import hashlib
import random
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from archive.canonical import canonical_json
from archive.events import CanonicalEvent, StatusInfo
from archive.export.conversation import (
    Conversation,
    Entry,
    StatusStep,
    build_conversations,
    conflict_of,
    latest_status,
    split_by_day,
)
from archive.layout import conflict_blob_name, record_blob_name
from archive.parsing import parse_body
from archive.record import MediaOutcome, RawRef, build_record
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

NEW_YORK = ZoneInfo("America/New_York")  # -04:00 in May/June
RECEIVED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
RAW = RawRef(path="year=2024/month=06/day=01/" + "a" * 64 + ".json", sha256="a" * 64)
CUSTOMER = "16315551181"
FIRM = "15550783881"
BUSINESS = "106540352242922"
KEY = f"{BUSINESS}~~{CUSTOMER}"
ID_IN = "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUUxRDc4N0I4QjQwRkRBMEVCQQA="  # text.json
ID_ECHO = "wamid.ECHO.HBgLMTYzMTU1NTExODEVAgARGBJFQ0hPMQA="  # echo_text.json
ID_OUT = "wamid.HBgLMTYzMTU1NTExODEVAgARGBI0QkQ3RkQyNUI3MDlDQTYxMUMA"  # status_*.json
ID_REACTED = "wamid.HBgLMTYzMTU1NTExODEVAgARGBJBQ0M5NkE0NUU5MDAxQUE1RjgA"  # reaction.json
CALL_ID = "wacid.HBgLMTYzMTU1NTExODEVAgASGBQzRUIwQ0FMTAA="
RTL_NAME = "Kerry كيري קרי Керри"
RTL_TEXT = "مرحبا، أريد بيع الأسهم — שלום, אני רוצה למכור — Здравствуйте, продайте акции"
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"
PNG_SHA = "b" * 64  # replaced by the transcript tests with the real image's sha256


def at(hour: int, minute: int, second: int = 0, day: int = 31, month: int = 5) -> datetime:
    return datetime(2024, month, day, hour, minute, second, tzinfo=UTC)


def parsed(name: str) -> CanonicalEvent:
    result = parse_body("meta", fixture_bytes(name), RECEIVED)
    assert len(result.events) == 1, name
    return result.events[0]


def _named(event: CanonicalEvent) -> CanonicalEvent:
    # A participant name in three scripts, as a Meta contact profile would carry it.
    contact = event.content.get("contact")
    if isinstance(contact, dict):
        return replace(event, content={**event.content, "contact": {**contact,
                                                                    "name": RTL_NAME}})
    return event


Rec = tuple[str, dict[str, Any]]


def record(event: CanonicalEvent, media: tuple[MediaOutcome, ...] = ()) -> Rec:
    return record_blob_name(event), build_record(event, raw=RAW, received_at=RECEIVED,
                                                 media=media)


def text_event(message_id: str, when: datetime, body: str, *, inbound: bool = True,
               quoted: str | None = None) -> CanonicalEvent:
    base = parsed("text") if inbound else parsed("echo_text")
    content: dict[str, Any] = {**base.content, "text": body}
    if quoted:
        content["context"] = {"from": CUSTOMER, "id": quoted}
        content["referenced_message_id"] = quoted
    return _named(replace(base, message_id=message_id, timestamp=when, content=content))


def status_event(name: str, message_id: str, when: datetime) -> CanonicalEvent:
    return replace(parsed(name), message_id=message_id, timestamp=when)


def call_record(event: str, when: datetime, **call: Any) -> tuple[str, dict[str, Any]]:
    """A record of issue #19's shape (``event: call``), one per call event."""
    path, rec = record(text_event(CALL_ID, when, "", inbound=False))
    rec = copy.deepcopy(rec)
    rec.update(event="call", type="call", message_id=CALL_ID, fragment={"call": event})
    rec["content"] = {"call": {"call_id": CALL_ID, "direction": "business_initiated",
                               "event": event, **call}}
    folder = path.rsplit("/", 1)[0].replace("wamid", "wacid")
    name = f"{int(when.timestamp()):011d}-call-outbound-{call.get('status') or event}"
    return f"{folder}/{name}.json", rec


def scenario_records(png_sha: str = PNG_SHA, png_size: int = 100,
                     ogg_sha: str = "c" * 64) -> list[tuple[str, dict[str, Any]]]:
    """One conversation with every kind of thing a transcript must show."""
    recs = [
        record(text_event(ID_REACTED, at(16, 5), "Can we confirm your identity?",
                          inbound=False)),
        record(text_event(ID_OUT, at(16, 8, 30), "Your order is confirmed", inbound=False)),
        # Statuses of ID_OUT (sent 16:08:37, delivered 16:08:40, read 16:08:50), read first.
        record(parsed("status_read")),
        record(parsed("status_sent")),
        record(parsed("status_delivered")),
        # A late duplicate "delivered" with a later clock: the shown status stays "read".
        record(status_event("status_delivered", ID_OUT, at(16, 9, 30))),
        record(_named(replace(parsed("text"), content={**_named(parsed("text")).content}))),
        record(_named(parsed("reaction"))),  # 16:08:37 on ID_REACTED
        record(_named(parsed("reaction_removed"))),  # 16:10:00
        record(_named(parsed("inbound_edit"))),  # 16:11:40, edits ID_IN
        record(_named(parsed("inbound_revoke"))),  # 16:12:30, revokes ID_IN
        record(replace(parsed("echo_text"), content={"text": "Order executed at 12.31",
                                                     "context": {"from": CUSTOMER,
                                                                 "id": ID_IN}})),
        record(parsed("echo_edit")),  # 16:15:00, edits ID_ECHO
        record(text_event("wamid.FAIL1", at(16, 20), "Statement attached", inbound=False)),
        record(status_event("status_failed", "wamid.FAIL1", at(16, 20, 5))),
        record(_named(replace(parsed("document"), message_id="wamid.DOC1",
                              timestamp=at(16, 25))),
               (MediaOutcome("1579389876123876", "unavailable", None, None, None, None,
                             "media download failed: HTTP 404 after 5 attempts"),)),
        record(_named(replace(parsed("image"), message_id="wamid.IMG1", timestamp=at(16, 30))),
               (MediaOutcome("1003383421387256", "stored", "media/x/1003383421387256.png",
                             png_sha, png_size, "image/png", None),)),
        record(_named(replace(parsed("audio_voice"), message_id="wamid.AUD1",
                              timestamp=at(16, 31))),
               (MediaOutcome("1178416690155211", "stored", "media/x/1178416690155211.ogg",
                             ogg_sha, 2048, "audio/ogg", None),)),
        record(_named(replace(parsed("system_changed_number"), message_id="wamid.SYS1",
                              timestamp=at(16, 40)))),
        record(_named(replace(parsed("unknown_type"), message_id="wamid.UNK1",
                              timestamp=at(16, 41)))),
        record(text_event("wamid.RTL1", at(16, 45), RTL_TEXT)),
        record(text_event("wamid.XSS1", at(16, 50), HOSTILE)),
        record(status_event("status_deleted", "wamid.XSS1", at(16, 52))),
        record(text_event("wamid.Q1", at(16, 53), "As I said before", quoted="wamid.GONE")),
        record(status_event("status_delivered", "wamid.MISSING", at(16, 55))),
        call_record("terminate", at(17, 5, 10), status="completed", duration=310,
                    start_time="2024-05-31T17:00:00Z", end_time="2024-05-31T17:05:10Z"),
        call_record("connect", at(17, 0)),
        # Ringing and accepted in the same provider second, "accepted" first by path.
        call_record("status", at(17, 0, 2), status="accepted"),
        call_record("status", at(17, 0, 2), status="ringing"),
        # 02:00 UTC on 1 June is still 31 May in New York; 05:00 UTC is 1 June there.
        record(text_event("wamid.LATE1", at(2, 0, day=1, month=6), "Good night")),
        record(text_event("wamid.NEXT1", at(5, 0, day=1, month=6), "Good morning")),
    ]
    # A second, different version of the first inbound message (a conflict sibling).
    path, original = next((p, r) for p, r in recs if r["message_id"] == ID_IN
                          and r["event"] == "message")
    sibling = copy.deepcopy(original)
    sibling["content"]["text"] = "Please sell 100 shares of ACME at market!!"
    sha = hashlib.sha256(canonical_json(sibling)).hexdigest()
    recs.append((conflict_blob_name(path, sha), sibling))
    return recs


def conversation_of(recs: list[tuple[str, dict[str, Any]]]) -> Conversation:
    conversations = build_conversations(recs)
    return next(c for c in conversations if c.key == KEY)


def entry(conv: Conversation, message_id: str, kind: str = "message") -> Entry:
    return next(e for e in conv.entries if e.message_id == message_id and e.kind == kind
                and conflict_of(e.record_path) is None)


def _shape(conv: Conversation) -> list[tuple[object, ...]]:
    return [(e.kind, e.message_id, e.record_path, [s.value for s in e.statuses],
             [v.text for v in e.edits], e.deleted_at, [r.emoji for r in e.reactions])
            for e in conv.entries]


def test_arrival_order_does_not_matter() -> None:
    recs = scenario_records()
    expected = _shape(conversation_of(recs))
    for seed in range(5):
        shuffled = recs[:]
        random.Random(seed).shuffle(shuffled)
        assert _shape(conversation_of(shuffled)) == expected
    assert _shape(conversation_of(list(reversed(recs)))) == expected


def test_entries_are_in_provider_time_order() -> None:
    conv = conversation_of(scenario_records())
    times = [e.at for e in conv.entries]
    assert times == sorted(times)
    assert conv.entries[0].message_id == ID_REACTED
    assert conv.entries[-1].message_id == "wamid.NEXT1"
    assert conv.business_id == BUSINESS and conv.customer_id == CUSTOMER
    assert {CUSTOMER, FIRM} <= set(conv.participants)


def test_out_of_order_statuses_sort_by_time_and_never_regress() -> None:
    message = entry(conversation_of(scenario_records()), ID_OUT)
    assert [s.value for s in message.statuses] == ["sent", "delivered", "read", "delivered"]
    assert [s.at for s in message.statuses] == sorted(s.at for s in message.statuses)
    shown = latest_status(message)
    assert shown is not None and shown.value == "read" and shown.at == at(16, 8, 50)
    assert all(s.recipient == CUSTOMER for s in message.statuses)


def test_failed_status_keeps_its_errors() -> None:
    message = entry(conversation_of(scenario_records()), "wamid.FAIL1")
    (failed,) = message.statuses
    assert failed.value == "failed"
    assert failed.errors[0]["code"] == 131026
    assert failed.errors[0]["title"] == "Message undeliverable"


def test_reply_edit_delete_and_reactions_attach_to_their_message() -> None:
    conv = conversation_of(scenario_records())
    first = entry(conv, ID_IN)
    assert first.text == "Please sell 100 shares of ACME at market."  # as first sent
    assert [v.text for v in first.edits] == ["Please sell 50 shares"]
    assert first.edits[0].at == at(16, 11, 40)
    assert first.deleted_at == at(16, 12, 30)  # the customer's revoke
    assert first.delete_path is not None and "delete-inbound" in first.delete_path
    echo = entry(conv, ID_ECHO)
    assert echo.quoted_id == ID_IN
    assert [v.text for v in echo.edits] == ["Order executed at 12.13 (corrected)"]
    reacted = entry(conv, ID_REACTED)
    assert [(r.emoji, r.by) for r in reacted.reactions] == [("👍", CUSTOMER), (None, CUSTOMER)]
    # A customer-delete status is both a step of the timeline and the deletion time.
    hostile = entry(conv, "wamid.XSS1")
    assert hostile.deleted_at == at(16, 52)
    assert [s.value for s in hostile.statuses] == ["deleted"]
    assert entry(conv, "wamid.Q1").quoted_id == "wamid.GONE"
    # Nothing that attached is left over as an entry of its own.
    kinds = {e.kind for e in conv.entries}
    assert kinds == {"message", "system", "unknown", "call", "status"}


def test_orphans_are_shown_never_dropped() -> None:
    conv = conversation_of(scenario_records())
    orphan = entry(conv, "wamid.MISSING", "status")
    assert orphan.is_orphan and orphan.text is None
    assert [s.value for s in orphan.statuses] == ["delivered"]
    # Every kind of attached event survives without its message.
    recs = [record(parsed(n)) for n in ("echo_edit", "inbound_revoke", "reaction",
                                         "status_failed")]
    conv = build_conversations(recs)[0]
    assert sorted(e.kind for e in conv.entries) == ["delete", "edit", "reaction", "status"]
    assert entry(conv, ID_ECHO, "edit").edits[0].text == "Order executed at 12.13 (corrected)"
    assert entry(conv, ID_IN, "delete").deleted_at == at(16, 12, 30)
    assert entry(conv, ID_REACTED, "reaction").reactions[0].emoji == "👍"


def test_media_entries_are_kept_as_stored() -> None:
    conv = conversation_of(scenario_records())
    (gap,) = entry(conv, "wamid.DOC1").media
    assert gap["state"] == "unavailable"
    assert gap["reason"] == "media download failed: HTTP 404 after 5 attempts"
    assert entry(conv, "wamid.DOC1").text == "Q3 statement"  # the caption
    (image,) = entry(conv, "wamid.IMG1").media
    assert image["state"] == "stored" and image["sha256"] == PNG_SHA


def test_system_and_unknown_events_are_entries() -> None:
    conv = conversation_of(scenario_records())
    system = entry(conv, "wamid.SYS1", "system")
    assert system.type == "system" and system.text is None
    assert entry(conv, "wamid.UNK1", "unknown").type == "unknown:hologram"


def test_conflict_sibling_is_a_second_marked_version() -> None:
    conv = conversation_of(scenario_records())
    versions = [e for e in conv.entries if e.message_id == ID_IN and e.kind == "message"]
    assert len(versions) == 2
    original, sibling = versions
    assert conflict_of(original.record_path) is None
    assert conflict_of(sibling.record_path) == original.record_path
    assert sibling.text == "Please sell 100 shares of ACME at market!!"
    assert conv.entries.index(sibling) == conv.entries.index(original) + 1
    # Edits and deletes go to the original, not to its conflict sibling.
    assert sibling.edits == [] and sibling.deleted_at is None


def test_conflicting_status_is_one_more_step_with_its_path() -> None:
    path, rec = record(parsed("status_failed"))
    other = copy.deepcopy(rec)
    other["status"]["errors"] = [{"code": 131047, "title": "Re-engagement message"}]
    recs = [record(text_event(ID_OUT, at(16, 0), "hi", inbound=False)), (path, rec),
            (conflict_blob_name(path, "d" * 64), other)]
    message = build_conversations(recs)[0].entries[0]
    assert [s.errors[0]["code"] for s in message.statuses] == [131026, 131047]
    assert conflict_of(message.statuses[1].record_path or "") == path


def test_calls_fold_into_one_entry_with_their_timeline() -> None:
    conv = conversation_of(scenario_records())
    (call,) = [e for e in conv.entries if e.kind == "call"]
    assert call.message_id == CALL_ID and call.at == at(17, 0)
    assert call.direction == "outbound" and call.kind == "call" and call.text is None
    assert [s.value for s in call.statuses] == ["connect", "ringing", "accepted", "terminate"]
    assert call.call is not None
    assert call.call.direction == "business_initiated"
    assert call.call.duration_seconds == 310
    assert call.call.outcome == "completed"
    assert call.call.start_time == "2024-05-31T17:00:00Z"


def test_a_failed_call_keeps_its_errors() -> None:
    error = {"code": 131000, "title": "Something went wrong"}
    recs = [call_record("connect", at(17, 0)),
            call_record("terminate", at(17, 0, 30), status="failed", errors=[error])]
    (call,) = build_conversations(recs)[0].entries
    assert call.statuses[-1].errors == (error,)
    assert call.call is not None and call.call.outcome == "failed"


def test_field_calls_system_events_stay_system_entries() -> None:
    system = parsed("other_field")
    legacy = replace(system, type="field:calls", content={"field": "calls"})
    conv = build_conversations([record(legacy)])[0]
    assert [(e.kind, e.type) for e in conv.entries] == [("system", "field:calls")]


def test_statuses_attach_across_conversation_keys() -> None:
    # A group message's status is filed under its recipient, not under the group.
    group = parsed("group_text")
    status = status_event("status_delivered", group.message_id, at(16, 9))
    conversations = build_conversations([record(group), record(status)])
    assert len(conversations) == 1
    assert [s.value for s in conversations[0].entries[0].statuses] == ["delivered"]


def test_split_by_day_uses_the_local_day() -> None:
    conv = conversation_of(scenario_records())
    days = split_by_day(conv, NEW_YORK)
    assert [d for d, _ in days] == [date(2024, 5, 31), date(2024, 6, 1)]
    assert days[0][1].entries[-1].message_id == "wamid.LATE1"  # 02:00Z is 22:00 -04:00
    assert [e.message_id for e in days[1][1].entries] == ["wamid.NEXT1"]
    assert sum(len(c.entries) for _, c in days) == len(conv.entries)
    by_utc = split_by_day(conv, UTC)
    assert [len(c.entries) for _, c in by_utc][1] == 2


def test_latest_status_of_an_entry_without_statuses_is_none() -> None:
    assert latest_status(entry(conversation_of(scenario_records()), "wamid.RTL1")) is None
    step = StatusStep("sent", at(1, 0), None, ())  # the agreed four-field form still works
    assert step.record_path is None


def test_status_info_round_trip_is_what_the_parser_records() -> None:
    # Guard the contract this module relies on: a status reports on the message's own id.
    event = parsed("status_failed")
    assert isinstance(event.status, StatusInfo) and event.message_id == ID_OUT


def test_malformed_records_become_entries_not_errors() -> None:
    conversations = build_conversations([
        ("a.json", {}),
        ("b.json", {"event": "status", "content": "x", "status": "y", "media": "z"}),
        ("c.json", {"event": "reaction", "timestamp": "bad", "content": {"reaction": "x"}}),
    ])
    entries = [e for c in conversations for e in c.entries]
    assert sorted(e.kind for e in entries) == ["reaction", "status", "unknown"]
    assert all(e.at == datetime(1970, 1, 1, tzinfo=UTC) for e in entries)
