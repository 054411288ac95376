"""The review queue on real Azurite: flags written as the pipeline writes them
(archive.flags.flag_entity on records archived through the real pipeline code), decisions
as create-only blobs in `audit`, the conversation context from the index.

Every test archives its messages on a day of its own (a random day long ago), so the
shared Azurite's Flags partitions and decision folders never mix between tests.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from admin import review
from admin.audit import recent_entries, who
from admin.connection import AdminError, Archive, open_archive
from admin.review import FlagError, FlagNotFound, list_flags, mark, show_flag
from archive.flags import DECISION_SCHEMA, decision_prefix, flag_entity, parse_flag_id
from archive.lexicon import Hit
from archive.names import AUDIT_CONTAINER, RECORDS_CONTAINER, TABLE_FLAGS
from cli.main import main as cli_main
from tests.admin import seed
from tests.support import webhooks
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

OTHER_BUSINESS = "201234567890123"


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> Iterator[Archive]:
    use_archive(monkeypatch, azurite_conn)
    yield open_archive()


def new_day() -> datetime:
    """10:00 UTC on a day no other test uses (2001..2020: never today's partitions)."""
    day = date(2001, 1, 1) + timedelta(days=random.randrange(7000))
    return datetime(day.year, day.month, day.day, 10, tzinfo=UTC)


def archive_text(customer: str, when: datetime, body: str,
                 business: str | None = None) -> tuple[str, dict[str, Any]]:
    """One inbound text through the real pipeline code: (record path, record)."""
    doc = webhooks.text_message(seed.new_wamid(), customer, int(when.timestamp()), body)
    if business:
        doc["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = business
    (path,) = seed.archive_body(doc)
    records = open_archive().container(RECORDS_CONTAINER)
    return path, json.loads(records.download_blob(path).readall())


def flag(archive: Archive, path: str, record: dict[str, Any], *words: str) -> str:
    """The Flags row a policy hit writes (as the pipeline does); returns the flag id."""
    hits = [Hit(rule="guarantee-return", field="content.text", tokens=(0, 1),
                spans=((0, len(w)),), matched=(w,)) for w in words or ("guarantee",)]
    entity = flag_entity(record, path, version=1, policy_sha256="ab" * 32,
                         hits={"content.text": hits}, source="archive",
                         flagged_at=datetime.now(UTC))
    archive.tables.get_table_client(TABLE_FLAGS).upsert_entity(entity)
    return f"{entity['PartitionKey']}.{entity['RowKey']}"


def flagged_message(archive: Archive, when: datetime | None = None) -> str:
    path, record = archive_text(seed.new_customer(), when or new_day(),
                                "We guarantee you a 10% return")
    return flag(archive, path, record)


def ids(archive: Archive, status: str, fid: str) -> list[str]:
    day = date.fromisoformat(fid.split(".")[0])
    return [f.id for f in list_flags(archive, status, day, day).flags]


def decision_blobs(archive: Archive, fid: str) -> list[str]:
    day, row_key = parse_flag_id(fid)
    audit = archive.container(AUDIT_CONTAINER)
    return sorted(b.name for b in audit.list_blobs(name_starts_with=decision_prefix(day, row_key)))


def audit_entries_naming(archive: Archive, fid: str) -> list[dict[str, Any]]:
    return [e.entry for e in recent_entries(archive, days=1, limit=10_000)
            if e.entry.get("target", {}).get("flag") == fid]


def audit_count(archive: Archive) -> int:
    now = datetime.now(UTC)
    prefix = f"year={now:%Y}/month={now:%m}/day={now:%d}/"
    return sum(1 for _ in archive.container(AUDIT_CONTAINER).list_blobs(name_starts_with=prefix))


def test_list_shows_open_flags_and_mark_closes_one(archive: Archive) -> None:
    fid = flagged_message(archive)
    assert ids(archive, "open", fid) == [fid]
    (summary,) = list_flags(archive, "open", date.fromisoformat(fid[:10]),
                            date.fromisoformat(fid[:10])).flags
    assert summary.row["rules"] == ["guarantee-return"]
    assert summary.row["hits"][0]["matched"] == ["guarantee"]

    done = mark(archive, fid, "reviewed", "Client quoting our brochure; no promise made.")
    assert done["previous"] == "open" and done["status"] == "reviewed"

    (name,) = decision_blobs(archive, fid)
    document = json.loads(archive.container(AUDIT_CONTAINER).download_blob(name).readall())
    assert document["schema"] == DECISION_SCHEMA and document["flag"] == fid
    assert document["reviewer"] == who(archive) and document["status"] == "reviewed"
    assert document["comment"] == "Client quoting our brochure; no promise made."

    marks = [e for e in audit_entries_naming(archive, fid) if e["action"] == "review_mark"]
    assert sorted(e["phase"] for e in marks) == ["intent", "outcome"]
    (intent,) = [e for e in marks if e["phase"] == "intent"]
    (outcome,) = [e for e in marks if e["phase"] == "outcome"]
    assert intent["target"] == {"flag": fid, "status": "reviewed"}
    # The outcome, in a sealed day folder, anchors the decision blob by name and hash.
    data = archive.container(AUDIT_CONTAINER).download_blob(name).readall()
    assert outcome["target"] == {"flag": fid, "status": "reviewed", "decision": name,
                                 "decision_sha256": hashlib.sha256(data).hexdigest()}
    assert all(e["who"] == who(archive) for e in marks)
    # The comment and the matched words are the decision's, not the audit trail's.
    assert not any("brochure" in json.dumps(e) or "guarantee" in json.dumps(e) for e in marks)

    assert ids(archive, "open", fid) == []
    assert ids(archive, "reviewed", fid) == [fid]
    assert ids(archive, "all", fid) == [fid]


def test_re_marking_keeps_the_history_and_the_latest_wins(archive: Archive) -> None:
    fid = flagged_message(archive)
    mark(archive, fid, "escalated", "Needs compliance officer.")
    mark(archive, fid, "false-positive", "Officer: sarcasm, no promise.")
    shown = show_flag(archive, fid)
    assert shown["status"] == "false-positive"
    assert [d["status"] for d in shown["decisions"]] == ["escalated", "false-positive"]
    assert all(d["reviewer"] == who(archive) and d["stored_at"] for d in shown["decisions"])
    assert len(decision_blobs(archive, fid)) == 2
    assert ids(archive, "escalated", fid) == [] and ids(archive, "false-positive", fid) == [fid]


def test_bad_input_is_a_clear_error_and_writes_nothing(archive: Archive) -> None:
    fid = flagged_message(archive)
    unknown = fid[:11] + "0" * 16 if not fid.endswith("0" * 16) else fid[:11] + "1" * 16
    before = audit_count(archive)
    with pytest.raises(FlagError, match="flag id looks like"):
        mark(archive, "not-a-flag", "reviewed", "x")
    with pytest.raises(FlagError, match="status must be one of"):
        mark(archive, fid, "open", "reopening")
    with pytest.raises(FlagError, match="status must be one of"):
        mark(archive, fid, "closed", "x")
    with pytest.raises(FlagError, match="needs a comment"):
        mark(archive, fid, "reviewed", "   ")
    with pytest.raises(FlagError, match="at most"):
        mark(archive, fid, "reviewed", "x" * 4001)
    with pytest.raises(FlagNotFound, match=f"no flag {unknown}"):
        mark(archive, unknown, "reviewed", "x")
    with pytest.raises(FlagError):
        show_flag(archive, "2026-12-05.XYZ")
    assert audit_count(archive) == before
    assert decision_blobs(archive, fid) == [] and decision_blobs(archive, unknown) == []
    assert ids(archive, "open", fid) == [fid]


def test_a_decision_under_another_flags_folder_decides_nothing(archive: Archive) -> None:
    when = new_day()
    flag_a = flagged_message(archive, when)
    flag_b = flagged_message(archive, when + timedelta(minutes=1))
    day, row_b = parse_flag_id(flag_b)
    planted = {"schema": DECISION_SCHEMA, "flag": flag_a, "status": "false-positive",
               "comment": "nothing to see", "reviewer": "someone", "decided_at": "x"}
    audit = archive.container(AUDIT_CONTAINER)
    folder = decision_prefix(day, row_b)
    audit.upload_blob(f"{folder}20990101T000000000000Z-{uuid.uuid4().hex[:16]}.json",
                      json.dumps(planted).encode())
    audit.upload_blob(f"{folder}junk-{uuid.uuid4().hex[:8]}.json", b"{not json")
    listing = list_flags(archive, "open", when.date(), when.date())
    assert {flag_a, flag_b} <= {f.id for f in listing.flags}
    assert listing.ignored_decisions == 2
    shown = show_flag(archive, flag_b)
    assert shown["status"] == "open" and shown["decisions"] == []


def test_a_later_decision_wins_whatever_name_the_earlier_one_chose(archive: Archive) -> None:
    """A decision named far in the future cannot outrank later ones: service time orders."""
    fid = flagged_message(archive)
    day, row_key = parse_flag_id(fid)
    forged = {"schema": DECISION_SCHEMA, "flag": fid, "status": "false-positive",
              "comment": "buried", "reviewer": "insider", "decided_at": "9999-12-31"}
    archive.container(AUDIT_CONTAINER).upload_blob(
        f"{decision_prefix(day, row_key)}99991231T235959999999Z-{uuid.uuid4().hex[:16]}.json",
        json.dumps(forged).encode())
    assert ids(archive, "false-positive", fid) == [fid]
    time.sleep(1.1)  # the service's creation time counts whole seconds (docs/review.md)
    mark(archive, fid, "escalated", "Reopened: the earlier decision is not ours.")
    assert ids(archive, "escalated", fid) == [fid]
    decisions = show_flag(archive, fid)["decisions"]
    assert [d["reviewer"] for d in decisions] == ["insider", who(archive)]


def test_editing_a_flags_row_cannot_close_a_flag(archive: Archive) -> None:
    fid = flagged_message(archive)
    day, row_key = parse_flag_id(fid)
    table = archive.tables.get_table_client(TABLE_FLAGS)
    table.update_entity({"PartitionKey": day, "RowKey": row_key, "status": "reviewed",
                         "reviewed": True, "decision": "false-positive"})
    assert ids(archive, "open", fid) == [fid]
    assert show_flag(archive, fid)["status"] == "open"


def test_context_is_five_before_and_five_after_in_this_conversation_only(
    archive: Archive,
) -> None:
    start = new_day()
    customer = seed.new_customer()
    offsets = [timedelta(minutes=m) for m in range(7)] + [
        timedelta(minutes=7), timedelta(minutes=36), timedelta(hours=2, minutes=6),
        timedelta(days=3), timedelta(days=40), timedelta(days=400)]
    paths: dict[timedelta, tuple[str, dict[str, Any]]] = {}
    for offset in offsets:
        paths[offset] = archive_text(customer, start + offset, f"message at {offset}")
        # Other conversations at the same moments: the customer with another business
        # (same partition, another prefix) and another customer with this business.
        archive_text(customer, start + offset, "other business", business=OTHER_BUSINESS)
        archive_text(seed.new_customer(), start + offset, "other customer")
    flagged = timedelta(minutes=6)
    fid = flag(archive, *paths[flagged], "message")
    shown = show_flag(archive, fid)
    texts = [m["text"] for m in shown["context"]]
    assert texts == [f"message at {o}" for o in offsets[1:12]]
    assert [m["flagged"] for m in shown["context"]] == [False] * 5 + [True] + [False] * 5
    assert shown["context"][5]["record_path"] == paths[flagged][0]
    times = [m["timestamp"] for m in shown["context"]]
    assert times == sorted(times)

    # Near the start of the conversation there is less before it.
    first = flag(archive, *paths[timedelta(minutes=1)])
    context = show_flag(archive, first)["context"]
    assert [m["text"] for m in context] == [f"message at {o}" for o in offsets[0:7]]
    assert [m["flagged"] for m in context] == [False, True] + [False] * 5


def test_cli_list_show_mark_and_exit_codes(
    archive: Archive, capsys: pytest.CaptureFixture[str],
) -> None:
    fid = flagged_message(archive)
    day = fid[:10]
    assert cli_main(["review", "list", "--from", day, "--to", day, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [f["id"] for f in listed["flags"]] == [fid] and listed["flags"][0]["status"] == "open"

    assert cli_main(["review", "show", fid]) == 0
    out = capsys.readouterr().out
    assert ">>" in out and "We guarantee you a 10% return" in out and "no decisions yet" in out

    assert cli_main(["review", "mark", fid, "--status", "reviewed", "--comment", "ok",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "reviewed"
    assert cli_main(["review", "list", "--from", day, "--to", day]) == 0
    assert fid not in capsys.readouterr().out

    assert cli_main(["review", "mark", "nope", "--status", "reviewed", "--comment", "x"]) == 2
    assert "flag id looks like" in capsys.readouterr().err
    assert cli_main(["review", "mark", fid, "--status", "reviewed", "--comment", " "]) == 2
    assert cli_main(["review", "show", f"{day}.{'f' * 16}"]) == 1
    assert "no flag" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli_main(["review", "mark", fid, "--status", "open", "--comment", "x"])
    assert usage.value.code == 2
    assert cli_main(["review", "list", "--from", "2020-02-01", "--to", "2020-01-01"]) == 2


def test_a_refused_call_names_the_reviewer_role(archive: Archive) -> None:
    def refused() -> None:
        error = HttpResponseError(message="This request is not authorized")
        error.status_code = 403
        raise error

    with pytest.raises(AdminError, match=r"your identity may not read the Flags table .*"
                       r"reviewer role"):
        review._call(archive, "table", "read the Flags table", refused)
