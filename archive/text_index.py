"""Keyword search's inverted index: the term rows of a record (table IndexByTerm).

Design (numbers in bench/README.md, "Keyword search"):

- PartitionKey ``<term>``: one partition per word, holding every record that has it. A
  search for a word over any time range is ONE RowKey range query, newest first, paged,
  however many days it spans and however rare the word is.
- RowKey: the by-day index's newest-first key ``<inverted ticks>-<message>-<event>-<fp16>``
  (archive.index), unique per record, so a time range is a RowKey range
  (archive.index.range_filter) and a page ends where the next one starts.
- A term is a lexicon token key (archive.lexicon.normalize: NFKC, case and diacritics
  folded), cut to ``MAX_TERM_CHARS``. The same text fields as the lexicon are read
  (text, caption, document filenames, edits), so search and supervision agree on what a
  message says. A term row holds part of the by-day projection (``TERM_COLUMNS``), not
  the text: a phrase is confirmed by reading the record.

The price is on the write side: a record's words are in different partitions, so each
distinct word is its own upsert (a Table transaction cannot span partitions). The first
design of this index, partitions by day and shard with all of a record's words in one
transaction, cost one call per message but a search one query per shard per day: four
per day, 120 for a rare word over 30 days, 117 times a single-partition query on
Azurite. Reads are what a person waits for; table calls cost $0.036 per million
(docs/search.md). A very common word's partition takes every message that has it:
Azure's target is about 2,000 entities/s per partition, which a word in one message of
ten reaches at some 20,000 messages a second.

Term rows are index rows (archive.index.index_entities adds them), so retention deletes
them with the record's other rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archive.lexicon.normalize import tokenize
from archive.lexicon.record_fields import text_fields

# Longer tokens are indexed by their first characters (the record read confirms the rest).
MAX_TERM_CHARS = 64
# What a term row repeats of the by-day projection: what a result line shows, what the
# participant scope filters on, and the record to confirm a phrase in. Provider, status,
# media count and fingerprint are left out: a message has one row per distinct word, so
# every column is paid for several times (bench/README.md, "Keyword search").
TERM_COLUMNS = ("timestamp", "event", "direction", "type", "from", "to", "message_id",
                "business_id", "customer_id", "record_path")


def term_key(token_key: str) -> str:
    return token_key[:MAX_TERM_CHARS]


def record_terms(record: Mapping[str, Any]) -> list[str]:
    """Distinct terms of the record's readable text fields, in first-seen order."""
    seen: dict[str, None] = {}
    for _, text in text_fields(record):
        for token in tokenize(text):
            seen.setdefault(term_key(token.key), None)
    return list(seen)


def query_terms(text: str) -> list[str]:
    """The terms of a search phrase, in order (duplicates kept: they are positions)."""
    return [term_key(token.key) for token in tokenize(text)]


def lookup_term(terms: list[str]) -> str:
    """The term whose rows a phrase search reads: the longest (a rough stand-in for the
    rarest; ties go to the first), so "off the record" reads "record", not "the"."""
    if not terms:
        raise ValueError("a search phrase needs at least one word")
    return max(terms, key=len)


def term_entities(
    record: Mapping[str, Any], *, newest_first: str, columns: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One row per distinct term of the record, each in its term's partition."""
    kept = {name: columns[name] for name in TERM_COLUMNS if name in columns}
    return [{"PartitionKey": term, "RowKey": newest_first, **kept}
            for term in record_terms(record)]
