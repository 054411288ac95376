"""Keyword search (admin.text_search) on a real Azurite: index, confirmation, scan, paging.

One private Azurite for the module, so the IndexByTerm marker is ours: it is set to
MARKER_DAY before anything is stored, so days after it are searched through the term
index and days on or before it are scanned (records archived before term rows existed).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError

import storage.index_writer as index_writer
from admin.audit import recent_entries
from admin.connection import AdminError, Archive, open_archive
from admin.text_search import TextPage, TextProgress, TextQuery, search_text
from archive.names import TABLE_BY_TERM
from cli.main import main
from devhost.azurite import Azurite
from storage.clients import table_service
from tests.support import webhooks
from tests.support.envelopes import meta_envelope, store_envelope
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

MARKER_DAY = "2025-12-31"
DAY1 = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)  # indexed
DAY0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # indexed
EARLY = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)  # indexed, outside the usual range
PAGING = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)  # indexed: seven "zebra crossing" texts
LEGACY = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)  # before the marker: scanned
ALICE = "447700900111"
BOB = "+447700900222"
RANGE = {"start": datetime(2026, 3, 10, tzinfo=UTC),
         "end": datetime(2026, 3, 11, 23, 59, tzinfo=UTC)}


def _wamid() -> str:
    return f"wamid.{uuid.uuid4().hex}"


def _message(sender: str, at: datetime, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return webhooks.envelope({
        "contacts": [{"profile": {"name": "Client"}, "wa_id": sender.lstrip("+")}],
        "messages": [{"from": sender.lstrip("+"), "id": _wamid(),
                      "timestamp": str(int(at.timestamp())), "type": kind, kind: body}],
    })


def _store(doc: dict[str, Any]) -> str:
    stored = store_envelope(meta_envelope(webhooks.body_of(doc)))
    return str(doc["entry"][0]["changes"][0]["value"]["messages"][0]["id"]) if stored else ""


def text(sender: str, at: datetime, body: str) -> str:
    return _store(_message(sender, at, "text", {"body": body}))


def image(sender: str, at: datetime, caption: str) -> str:
    return _store(_message(sender, at, "image", {
        "id": uuid.uuid4().hex[:16], "mime_type": "image/jpeg", "caption": caption}))


def document(sender: str, at: datetime, filename: str) -> str:
    return _store(_message(sender, at, "document", {
        "id": uuid.uuid4().hex[:16], "mime_type": "application/pdf", "filename": filename}))


def edit(sender: str, at: datetime, original: str, body: str) -> str:
    return _store(_message(sender, at, "edit", {
        "original_message_id": original,
        "message": {"type": "text", "text": {"body": body}}}))


def status(recipient: str, wamid: str, at: datetime) -> None:
    store_envelope(meta_envelope(webhooks.body_of(
        webhooks.status(wamid, recipient.lstrip("+"), "read", int(at.timestamp())))))


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Stores the data set once; yields the message ids by name."""
    emulator = Azurite(Path(tmp_path_factory.mktemp("azurite-text")))
    emulator.start()
    patch = pytest.MonkeyPatch()
    try:
        use_archive(patch, emulator.connection_string)
        terms = table_service().get_table_client(TABLE_BY_TERM)
        terms.create_entity({"PartitionKey": index_writer.TERM_MARKER_PARTITION,
                             "RowKey": index_writer.TERM_MARKER_ROW, "day": MARKER_DAY})
        patch.setattr(index_writer, "_term_marker_written", False)
        found: dict[str, str] = {}
        found["text"] = text(ALICE, DAY1, "We GUARANTEE a full refund on the Garantía plan")
        found["caption"] = image(ALICE, DAY1 + timedelta(hours=1), "Off the record: bonds")
        found["original"] = text(ALICE, DAY1 + timedelta(hours=2), "please sell slowly")
        found["edit"] = edit(ALICE, DAY1 + timedelta(hours=2, minutes=5), found["original"],
                             "please sell quietly")
        found["document"] = document(BOB, DAY1 + timedelta(hours=3), "insider_list 2026.pdf")
        found["bob_text"] = text(BOB, DAY1 + timedelta(hours=4), "guarantee a full return")
        found["guaranteed"] = text(BOB, DAY1 + timedelta(hours=5), "returns guaranteed")
        found["near3"] = text(BOB, DAY0, "I guarantee you a 10% return")
        found["near4"] = text(ALICE, DAY0 + timedelta(hours=1),
                              "I guarantee you a full 10% return")
        found["early"] = text(ALICE, EARLY, "guarantee a full refund, again")
        status(ALICE, found["text"], DAY1 + timedelta(minutes=1))
        for n in range(7):
            found[f"zebra{n}"] = text(ALICE, PAGING + timedelta(minutes=n),
                                      f"zebra crossing number {n}")
        found["legacy"] = text(ALICE, LEGACY, "the kumquat contract, off the record")
        status(ALICE, found["legacy"], LEGACY + timedelta(minutes=1))
        # Archived "before term rows existed": its day has none.
        for row in list(terms.query_entities(f"message_id eq '{found['legacy']}'")):
            terms.delete_entity(row["PartitionKey"], row["RowKey"])
        assert not list(terms.query_entities("PartitionKey eq 'kumquat'"))
        # The writer kept the marker we set (create-only).
        assert terms.get_entity(index_writer.TERM_MARKER_PARTITION,
                                index_writer.TERM_MARKER_ROW)["day"] == MARKER_DAY
        yield found
    finally:
        patch.undo()
        emulator.stop()


@pytest.fixture
def archive(ids: dict[str, str]) -> Archive:
    return open_archive()


def found(page: TextPage) -> list[str]:
    return [str(row["message_id"]) for row in page.rows]


def run(archive: Archive, phrase: str, **kwargs: Any) -> TextPage:
    options = {k: kwargs.pop(k) for k in ("scan", "page_size", "continuation", "progress")
               if k in kwargs}
    return search_text(archive, TextQuery(phrase, **({**RANGE, **kwargs})), **options)


def test_phrase_in_text_case_and_diacritics(archive: Archive, ids: dict[str, str]) -> None:
    page = run(archive, "guarantee A FULL")
    assert found(page) == [ids["bob_text"], ids["text"]]  # newest first; not the early one
    assert page.rows[1]["fields"] == ["content.text"]
    assert page.days_indexed == 2 and page.days_scanned == 0
    assert page.records_read >= 2 and page.continuation is None
    assert found(run(archive, "GARANTIA")) == [ids["text"]]
    assert found(run(archive, "garantía plan")) == [ids["text"]]


def test_single_word_is_proved_by_its_row_and_is_not_a_prefix_match(
    archive: Archive, ids: dict[str, str]
) -> None:
    page = run(archive, "Guarantee")
    assert ids["guaranteed"] not in found(page)
    assert set(found(page)) == {ids["text"], ids["bob_text"], ids["near3"], ids["near4"]}
    assert page.records_read == 0 and page.rows[0]["fields"] == []
    assert found(run(archive, "guaranteed")) == [ids["guaranteed"]]


def test_caption_edit_and_document_filename(archive: Archive, ids: dict[str, str]) -> None:
    page = run(archive, "off the record")
    assert found(page) == [ids["caption"]]
    assert page.rows[0]["fields"] == ["content.caption"]
    page = run(archive, "sell quietly")
    assert found(page) == [ids["edit"]]
    assert page.rows[0]["fields"] == ["content.edited.text"]
    assert page.rows[0]["event"] == "edit"
    page = run(archive, "insider list")
    assert found(page) == [ids["document"]]
    assert "content.filename" in page.rows[0]["fields"]


def test_near(archive: Archive, ids: dict[str, str]) -> None:
    assert found(run(archive, "guarantee NEAR/3 return")) == [ids["bob_text"], ids["near3"]]
    assert set(found(run(archive, "return NEAR/4 guarantee"))) == {
        ids["bob_text"], ids["near3"], ids["near4"]}


def test_participant_scope(archive: Archive, ids: dict[str, str]) -> None:
    assert found(run(archive, "guarantee a full", participant=f"+{ALICE}")) == [ids["text"]]
    assert found(run(archive, "guarantee a full", participant=BOB.lstrip("+"))) == [
        ids["bob_text"]]
    # The business is a participant of every conversation.
    assert len(found(run(archive, "guarantee a full",
                         participant=webhooks.PHONE_NUMBER_ID))) == 2


def test_date_scope(archive: Archive, ids: dict[str, str]) -> None:
    wide = run(archive, "guarantee a full", start=EARLY - timedelta(days=1))
    assert found(wide) == [ids["bob_text"], ids["text"], ids["early"]]
    narrow = run(archive, "guarantee a full", start=DAY1 + timedelta(hours=3),
                 end=DAY1 + timedelta(hours=6))
    assert found(narrow) == [ids["bob_text"]]
    assert found(run(archive, "guarantee a full", start=EARLY - timedelta(hours=1),
                     end=EARLY + timedelta(hours=1))) == [ids["early"]]


def test_paging_returns_the_rest_without_duplicates(
    archive: Archive, ids: dict[str, str]
) -> None:
    expected = [ids[f"zebra{n}"] for n in reversed(range(7))]
    for scan in (False, True):
        seen: list[str] = []
        token = None
        for _ in range(5):
            page = run(archive, "zebra crossing", start=PAGING - timedelta(days=1),
                       end=PAGING + timedelta(days=1), page_size=3, continuation=token,
                       scan=scan)
            seen += found(page)
            token = page.continuation
            if token is None:
                break
        assert seen == expected, scan


def test_a_token_of_another_search_is_refused(archive: Archive) -> None:
    page = run(archive, "zebra crossing", start=PAGING - timedelta(days=1),
               end=PAGING + timedelta(days=1), page_size=2)
    assert page.continuation
    with pytest.raises(AdminError, match="invalid --page token"):
        run(archive, "zebra", start=PAGING - timedelta(days=1),
            end=PAGING + timedelta(days=1), continuation=page.continuation)
    with pytest.raises(AdminError, match="invalid --page token"):
        run(archive, "zebra", continuation="bm90LWpzb24=")


def test_unindexed_day_is_scanned_with_progress(archive: Archive, ids: dict[str, str]) -> None:
    reports: list[TextProgress] = []
    page = run(archive, "kumquat", start=LEGACY - timedelta(days=1),
               end=LEGACY + timedelta(days=1), progress=reports.append)
    assert found(page) == [ids["legacy"]]
    assert page.rows[0]["fields"] == ["content.text"]
    assert page.days_scanned == 3 and page.days_indexed == 0
    assert page.records_read == 1  # the status beside it is skipped by name
    last = [r for r in reports if r.day == LEGACY.strftime("%Y-%m-%d")][-1]
    assert (last.done, last.total, last.days_total) == (1, 1, 3)
    # Nothing in the index for it: a phrase search still finds it, through the scan.
    assert found(run(archive, "off the record", start=LEGACY - timedelta(days=1),
                     end=DAY1 + timedelta(days=1))) == [ids["caption"], ids["legacy"]]


@pytest.mark.parametrize("phrase", [
    "guarantee a full", "guarantee", "off the record", "sell quietly", "insider list",
    "guarantee NEAR/3 return", "zebra", "GARANTIA",
])
def test_scan_agrees_with_the_index(archive: Archive, phrase: str) -> None:
    span = {"start": EARLY - timedelta(days=1), "end": PAGING + timedelta(days=1)}
    indexed = run(archive, phrase, page_size=100, **span)
    scanned = run(archive, phrase, page_size=100, scan=True, **span)
    assert scanned.days_indexed == 0 and indexed.days_scanned == 0
    assert found(indexed) and found(indexed) == found(scanned)
    strip = [{k: v for k, v in row.items() if k != "fields"} for row in indexed.rows]
    assert strip == [{k: v for k, v in row.items() if k != "fields"} for row in scanned.rows]


def test_naive_times_are_utc(archive: Archive, ids: dict[str, str]) -> None:
    naive = {"start": RANGE["start"].replace(tzinfo=None), "end": RANGE["end"].replace(tzinfo=None)}
    assert found(run(archive, "guarantee a full", **naive)) == [ids["bob_text"], ids["text"]]


def test_clear_errors(archive: Archive) -> None:
    with pytest.raises(AdminError, match="at most 366 days"):
        run(archive, "x", start=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(AdminError, match="--text"):
        run(archive, " ,, ")
    with pytest.raises(AdminError, match="NEAR"):
        run(archive, "a NEAR/x b")
    with pytest.raises(AdminError, match="after"):
        run(archive, "x", start=RANGE["end"], end=RANGE["start"])


def test_without_a_marker_every_day_is_scanned(
    archive: Archive, ids: dict[str, str]
) -> None:
    terms = table_service().get_table_client(TABLE_BY_TERM)
    terms.delete_entity(index_writer.TERM_MARKER_PARTITION, index_writer.TERM_MARKER_ROW)
    try:
        page = run(archive, "guarantee a full")
        assert page.days_scanned == 2 and page.days_indexed == 0
        assert found(page) == [ids["bob_text"], ids["text"]]
    finally:
        with suppress(ResourceExistsError):
            terms.create_entity({"PartitionKey": index_writer.TERM_MARKER_PARTITION,
                                 "RowKey": index_writer.TERM_MARKER_ROW, "day": MARKER_DAY})


# -- the CLI --------------------------------------------------------------------------------


def test_cli_text_search_json_pages_progress_and_audit(
    archive: Archive, ids: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--from", "2026-03-11", "--to", "2026-03-12"]
    assert main(["search", "--text", "Zebra crossing", *window, "--limit", "4", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["stats"]["days_indexed"] == 2 and len(first["rows"]) == 4
    assert first["stats"]["index_queries"] == 2  # the marker, then ONE range query
    assert main(["search", "--text", "Zebra crossing", *window, "--limit", "4", "--json",
                 "--page", first["continuation"]]) == 0
    rest = json.loads(capsys.readouterr().out)
    assert [r["message_id"] for r in first["rows"] + rest["rows"]] == [
        ids[f"zebra{n}"] for n in reversed(range(7))]
    # Scanning: progress on stderr (counts only), never in the JSON on stdout.
    assert main(["search", "--text", "zebra crossing", *window, "--scan", "--json",
                 "--participant", f"+{ALICE}"]) == 0
    out = capsys.readouterr()
    assert len(json.loads(out.out)["rows"]) == 7
    assert "scanning 2026-03-12" in out.err and "zebra" not in out.err
    actions = [e.entry for e in recent_entries(archive, days=1, limit=1000)
               if e.entry.get("action") == "search_text"]
    assert any(e["target"].get("scan") and e["phase"] != "intent" for e in actions)
    # Human output: the table, and the match's fields.
    assert main(["search", "--text", "off the record", *window]) == 0
    human = capsys.readouterr().out
    assert ids["caption"] in human and "content.caption" in human


def test_cli_text_search_errors(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--text", "x", "--type", "text"]) == 2
    assert "--text combines with --participant" in capsys.readouterr().err
    assert main(["search", "--scan", "--participant", ALICE]) == 2
    assert "--scan goes with --text" in capsys.readouterr().err
    assert main(["search", "--text", "x", "--from", "2020-01-01", "--to", "2026-01-01"]) == 2
    assert "at most 366 days" in capsys.readouterr().err
