"""The pure arithmetic and the synthetic corpus of bench.text_search (no Azurite)."""

from __future__ import annotations

import pytest

from archive.names import TABLE_BY_TERM
from archive.text_index import query_terms, record_terms
from bench.text_search import (
    COMMON,
    PHRASE,
    PHRASE_SLOTS,
    RARE,
    RARE_EVERY,
    RARE_SLOT,
    Corpus,
    azure_entity_bytes,
    build,
    index_cost,
    kept_row_months,
    linear_fit,
    sequential_seconds,
    vocabulary,
)

pytestmark = pytest.mark.unit


def test_azure_entity_bytes_follows_the_documented_formula() -> None:
    entity = {"PartitionKey": "ab", "RowKey": "cde", "s": "xyz", "n": 7, "b": True,
              "big": 2**40, "f": 1.5, "gone": None}
    keys = 4 + 2 * 5
    timestamp = 8 + 2 * 9 + 8
    props = (8 + 2 + 4 + 6) + (8 + 2 + 4) + (8 + 2 + 1) + (8 + 6 + 8) + (8 + 2 + 8)
    assert azure_entity_bytes(entity) == keys + timestamp + props


def test_linear_fit() -> None:
    assert linear_fit([1, 2, 3], [5, 7, 9]) == pytest.approx((3.0, 2.0))
    assert linear_fit([4, 4], [1, 3]) == (2.0, 0.0)


def test_kept_row_months_sums_every_days_rows_to_the_horizon() -> None:
    # One row a day for one 365-day year: day d's row is held 365 - d days.
    assert kept_row_months(1, 1) == pytest.approx(sum(range(1, 366)) * 12 / 365)


def test_index_cost_prices_transactions_and_storage() -> None:
    cost = index_cost(1000, 1, rows_per_event=2, transactions_per_event=1, bytes_per_row=2**30,
                      transaction_price_per_10k=1.0, gb_month_price=0.5)
    assert cost["transactions"] == 365_000
    assert cost["transactions_cost"] == pytest.approx(36.5)
    assert cost["gb_at_end"] == pytest.approx(730_000)
    assert cost["storage_cost"] == pytest.approx(kept_row_months(2000, 1) * 0.5)
    assert cost["total"] == pytest.approx(cost["transactions_cost"] + cost["storage_cost"])


def test_sequential_seconds() -> None:
    assert sequential_seconds(121, 0, 8, 10) == pytest.approx(1.21)
    assert sequential_seconds(10, 17, 8, 20) == pytest.approx((10 + 3) * 0.02)


def test_vocabulary_places_the_phrase_words_and_leaves_the_rare_term_out() -> None:
    words = vocabulary()
    assert words[0] == COMMON
    assert words.index("off") == 60
    assert words.index("record") == 300
    assert RARE not in words
    assert len(words) == len(set(words))


def test_corpus_is_deterministic_and_plants_where_it_says() -> None:
    corpus = Corpus(days=6, slots=1000)
    assert build(corpus, 2, 5).data == build(corpus, 2, 5).data
    rare = {(d, i) for d in range(6) for i in range(1000)
            if corpus.planted(d, i) == RARE}
    assert rare == {(d, RARE_SLOT) for d in range(0, 6, RARE_EVERY)}
    for slot in PHRASE_SLOTS:
        built = build(corpus, 1, slot)
        record_rows = built.rows[TABLE_BY_TERM]
        assert {*query_terms(PHRASE)} <= {row["PartitionKey"] for row in record_rows}
    kinds = {corpus.message(1, slot)[1] for slot in PHRASE_SLOTS}
    assert kinds == {"text", "image", "edit"}  # a caption and an edit among them


def test_timestamps_are_unique_within_a_day_and_inside_it() -> None:
    corpus = Corpus(days=1, slots=1000)
    stamps = [corpus.at(0, i) for i in range(1000)]
    assert len(set(stamps)) == 1000
    assert all(s.date() == corpus.day(0) for s in stamps)


def test_a_message_without_text_has_no_term_rows() -> None:
    corpus = Corpus(days=1, slots=2000)
    for i in range(2000):
        event, kind = corpus.message(0, i)
        if kind == "image" and not event.content:
            built = build(corpus, 0, i)
            assert built.rows[TABLE_BY_TERM] == []
            assert record_terms({"event": "message", "content": {}}) == []
            return
    pytest.fail("no image without a caption in 2,000 messages")
