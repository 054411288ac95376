"""Keyword search's term index keys (archive.text_index): terms, truncation, bounds, shards."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.index import index_entities, inverted_ticks, query_bounds
from archive.lexicon import tokenize
from archive.meta.parser import parse_webhook
from archive.names import TABLE_BY_DAY, TABLE_BY_TERM
from archive.record import RawRef, build_record
from archive.text_index import (
    MAX_TERM_CHARS,
    TERM_COLUMNS,
    TERM_SHARDS,
    day_partitions,
    lookup_term,
    query_terms,
    record_terms,
    shard_of,
    term_bounds,
    term_entities,
    term_key,
    term_partition,
    term_row_key,
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


# -- keys and bounds ------------------------------------------------------------------------


def _selects(term: str, row_key: str, low: str | None = None, high: str | None = None) -> bool:
    lo, hi = term_bounds(term, low, high)
    return lo <= row_key < hi


def test_bounds_of_a_term_exclude_terms_it_is_a_prefix_of() -> None:
    key = f"{inverted_ticks(datetime(2026, 1, 1, tzinfo=UTC))}-wamid.x-message-{'0' * 16}"
    for other in ("guaranteed", "guarantees", "guarantee'd", "guarantee0", "guaranteeж",
                  "guarante", "guarantee中"):
        assert not _selects("guarantee", term_row_key(other, key)), other
    assert _selects("guarantee", term_row_key("guarantee", key))


@given(_terms, _terms, _keys)
def test_bounds_select_exactly_one_terms_rows(term: str, other: str, key: str) -> None:
    assert _selects(term, term_row_key(other, key)) == (term == other)


@given(_terms, _keys, st.datetimes(min_value=datetime(1971, 1, 1),
                                   max_value=datetime(9000, 1, 1), timezones=st.just(UTC)),
       st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1),
                    timezones=st.just(UTC)))
def test_time_bounds_narrow_within_the_term(
    term: str, key: str, start: datetime, end: datetime
) -> None:
    """``term_bounds(term, *query_bounds(start, end))`` selects the term's rows in range."""
    ts_key = key.split("-", 1)[0]
    inside = inverted_ticks(end) <= ts_key <= inverted_ticks(start)
    assert _selects(term, term_row_key(term, key), *query_bounds(start, end)) == inside


@given(_terms)
def test_non_ascii_terms_make_valid_table_keys(term: str) -> None:
    row_key = term_row_key(term, "0" * 19 + "-m-message-" + "0" * 16)
    assert not set(row_key) & _FORBIDDEN
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) < 0xA0 for c in row_key)
    assert "~" not in term


# -- partitions and shards ------------------------------------------------------------------


def test_shard_is_stable_and_in_range() -> None:
    # The shard must never change between versions: rows written earlier are found by it.
    expected = hashlib.sha256(b"wamid.abc").digest()[0] % TERM_SHARDS
    assert shard_of("wamid.abc") == expected == 3
    assert {shard_of(f"m{i}") for i in range(200)} == set(range(TERM_SHARDS))
    assert day_partitions("2026-03-01") == [f"2026-03-01~{i}" for i in range(TERM_SHARDS)]
    assert term_partition("2026-03-01", 2) == "2026-03-01~2"


@given(st.text(alphabet="abcXYZ019._~-", min_size=1, max_size=40))
def test_shard_depends_only_on_the_message(message_key: str) -> None:
    assert 0 <= shard_of(message_key) < TERM_SHARDS
    assert shard_of(message_key) == shard_of(str(message_key))


def test_a_records_term_rows_share_one_partition_and_part_of_the_by_day_projection() -> None:
    record = _record("document")
    rows = index_entities(record, "records/p.json")
    (by_day,) = rows[TABLE_BY_DAY]
    terms = rows[TABLE_BY_TERM]
    assert {r["PartitionKey"] for r in terms} == {
        term_partition(by_day["PartitionKey"], shard_of(by_day["RowKey"].split("-")[1]))}
    assert [r["RowKey"] for r in terms] == [
        term_row_key(t, by_day["RowKey"]) for t in record_terms(record)]
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
    args: dict[str, Any] = {"day": "2026-01-01", "message_key": "m1",
                            "newest_first": "k", "columns": {"timestamp": "t", "status": "x"}}
    assert term_entities(record, **args) == term_entities(record, **args)
    assert [r["RowKey"] for r in term_entities(record, **args)] == ["same~k", "words~k"]


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
