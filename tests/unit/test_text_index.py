"""Keyword search's term index keys (archive.text_index): terms, truncation, partitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.index import index_entities, inverted_ticks, range_filter
from archive.lexicon import tokenize
from archive.meta.parser import parse_webhook
from archive.names import TABLE_BY_DAY, TABLE_BY_TERM
from archive.record import RawRef, build_record
from archive.text_index import (
    MAX_TERM_CHARS,
    TERM_COLUMNS,
    lookup_term,
    query_terms,
    record_terms,
    term_entities,
    term_key,
)
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

RAW = RawRef("raw/x.json", "a" * 64)
RECEIVED = datetime(2024, 6, 1, tzinfo=UTC)
_FORBIDDEN = set("/\\#?")
# A newest-first key as archive.index builds it: inverted ticks, message, event, fp16.
_keys = st.builds(
    lambda ts, msg, fp: f"{inverted_ticks(ts)}-{msg}-message-{fp}",
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1),
                 timezones=st.just(UTC)),
    st.text(alphabet="abcXYZ019._~-", min_size=1, max_size=12),
    st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
)
# Terms as tokenize makes them: letters of many scripts, digits, an inner apostrophe.
_terms = st.text(
    alphabet=st.sampled_from("aeguntdrcé'0129ßжяπ中\u0627"), min_size=1, max_size=12
).map(lambda s: tokenize(s)[0].key if tokenize(s) else "x").map(term_key)


def _record(name: str, index: int = 0) -> dict[str, Any]:
    event = parse_webhook(fixture_bytes(name)).events[index]
    return build_record(event, raw=RAW, received_at=RECEIVED)


def _message(content: dict[str, Any], *, event: str = "message",
             media: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"event": event, "content": content, "media": media or []}


# -- terms ----------------------------------------------------------------------------------


def test_record_terms_are_distinct_in_first_seen_order_over_every_text_field() -> None:
    record = _message(
        {"text": "Guarantee the RETURN, guarantee it", "caption": "Q3 garantía",
         "filename": "statement.pdf", "edited": {"text": "Révisé"}},
        media=[{"filename": "other-name.docx"}],
    )
    assert record_terms(record) == [
        "guarantee", "the", "return", "it", "q3", "garantia", "statement", "pdf", "revise",
        "other", "name", "docx",
    ]


def test_statuses_and_other_events_have_no_terms() -> None:
    assert record_terms(_record("status_read")) == []
    assert record_terms(_message({"text": "hello"}, event="reaction")) == []
    assert index_entities(_record("status_read"), "p")[TABLE_BY_TERM] == []


def test_query_terms_keep_order_and_repeats_with_the_lexicon_normalisation() -> None:
    fullwidth = "\uff26\uff55\uff4c\uff4c"  # "Full"
    assert query_terms(f"{fullwidth} GARANTÍA, full") == ["full", "garantia", "full"]
    assert query_terms("don\u2019t") == ["don't"]  # either apostrophe is one token
    assert query_terms("guar\u00adantee") == ["guarantee"]  # soft hyphen folds away
    assert query_terms(" ,.!? ") == []


def test_long_tokens_are_cut_to_max_term_chars() -> None:
    word = "a" * (MAX_TERM_CHARS + 30)
    assert query_terms(word) == ["a" * MAX_TERM_CHARS]
    assert record_terms(_message({"text": word + " b"})) == ["a" * MAX_TERM_CHARS, "b"]
    assert term_key("short") == "short"


def test_lookup_term_is_the_longest_first_on_ties() -> None:
    assert lookup_term(["off", "the", "record"]) == "record"
    assert lookup_term(["abc", "xyz"]) == "abc"
    with pytest.raises(ValueError):
        lookup_term([])


# -- keys -----------------------------------------------------------------------------------


@given(_terms)
def test_terms_make_valid_partition_keys_apart_from_the_marker(term: str) -> None:
    """A term is a PartitionKey as is: no forbidden or control character, never "~" (so
    never the since-marker's partition, storage.index_writer)."""
    assert not set(term) & _FORBIDDEN
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) < 0xA0 for c in term)
    assert "~" not in term


@given(_terms, _keys, st.datetimes(min_value=datetime(1971, 1, 1),
                                   max_value=datetime(9000, 1, 1), timezones=st.just(UTC)),
       st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1),
                    timezones=st.just(UTC)))
def test_a_time_range_is_one_row_key_range_of_the_terms_partition(
    term: str, key: str, start: datetime, end: datetime
) -> None:
    """``range_filter(term, start, end)``, the query search sends, selects exactly the
    term's rows whose newest-first key lies in [start, end]."""
    query = range_filter(term, start, end)
    quoted = term.replace("'", "''")
    assert query.startswith(f"PartitionKey eq '{quoted}' and RowKey ge '")
    low = query.split("RowKey ge '", 1)[1].split("'", 1)[0]
    high = query.split("RowKey lt '", 1)[1].split("'", 1)[0]
    ts_key = key.split("-", 1)[0]
    inside = inverted_ticks(end) <= ts_key <= inverted_ticks(start)
    assert (low <= key < high) == inside


def test_a_records_term_rows_are_one_per_word_in_its_partition_with_the_by_day_key() -> None:
    record = _record("document")
    rows = index_entities(record, "records/p.json")
    (by_day,) = rows[TABLE_BY_DAY]
    terms = rows[TABLE_BY_TERM]
    assert [r["PartitionKey"] for r in terms] == record_terms(record)
    assert {r["RowKey"] for r in terms} == {by_day["RowKey"]}
    for row in terms:
        assert {k: v for k, v in row.items() if k not in ("PartitionKey", "RowKey")} == {
            k: v for k, v in by_day.items() if k in TERM_COLUMNS}
    # Every column a result line shows and the participant scope reads is kept.
    assert {"timestamp", "from", "to", "business_id", "customer_id", "record_path"} <= set(
        terms[0])
    assert "fingerprint" not in terms[0]
    # Caption and filename are both read.
    assert {"q3", "statement", "pdf"} <= set(record_terms(record))


def test_term_entities_are_identical_on_redelivery() -> None:
    record = _message({"text": "Same words"})
    args: dict[str, Any] = {"newest_first": "k", "columns": {"timestamp": "t", "status": "x"}}
    assert term_entities(record, **args) == term_entities(record, **args)
    assert [(r["PartitionKey"], r["RowKey"]) for r in term_entities(record, **args)] == [
        ("same", "k"), ("words", "k")]
    assert all("status" not in r for r in term_entities(record, **args))


# -- what a scan opens (admin.text_scan) ----------------------------------------------------


def test_a_scan_opens_only_text_bearing_records_in_range_by_name() -> None:
    from admin.text_scan import day_folder, worth_reading

    folder = day_folder("2026-03-01")
    assert folder == "year=2026/month=03/day=01/"
    base = f"{folder}meta/b~~c/wamid.x/"
    assert worth_reading(base + "01772323200-message-inbound.json", None, None)
    assert worth_reading(base + "01772323200-edit-outbound.json", None, None)
    for event in ("status-outbound-read", "reaction-inbound", "call-inbound-connect",
                  "delete-inbound", "system-inbound", "unknown-inbound"):
        assert not worth_reading(f"{base}01772323200-{event}.json", None, None), event
    # A kept conflicting version is never indexed, so a scan skips it too.
    assert not worth_reading(base + "01772323200-message-inbound.conflict-" + "a" * 64
                             + ".json", None, None)
    # Whole seconds in the name: [epoch, epoch + 1) may overlap the range.
    name = base + "01772323200-message-inbound.json"
    assert worth_reading(name, 1772323200.5, 1772323200.5)
    assert not worth_reading(name, 1772323201.0, None)
    assert not worth_reading(name, None, 1772323199.9)
    assert not worth_reading(base + "\u00b2-message-inbound.json", None, None)
