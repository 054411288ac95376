"""Keyword search's inverted index: the term rows of a record (table IndexByTerm).

Design (numbers in bench/README.md, "Keyword search"):

- PartitionKey ``<YYYY-MM-DD>~<shard>``: the record's provider day, and a shard chosen by
  the message id (``TERM_SHARDS`` of them). Every term of one record lands in ONE
  partition, so a record's term rows are one transaction per 100 distinct terms: a
  text message costs one table call more, not one per word. The shards spread a busy
  day's writes over several partitions (Azure's target is about 2,000 entities/s per
  partition); a search for a term on a day asks each shard of that day.
- RowKey ``<term>~<newest-first key of the by-day index>``: one term's rows of a day are a
  RowKey range, newest first, and the rest of the key is the by-day row's (unique per
  record).
- A term is a lexicon token key (archive.lexicon.normalize: NFKC, case and diacritics
  folded), cut to ``MAX_TERM_CHARS``. The same text fields as the lexicon are read
  (text, caption, document filenames, edits), so search and supervision agree on what a
  message says. A term's row holds part of the by-day projection (``TERM_COLUMNS``), not
  the text: a phrase is confirmed by reading the record.

Term rows are index rows (archive.index.index_entities adds them), so retention deletes
them with the record's other rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from archive.lexicon.normalize import tokenize
from archive.lexicon.record_fields import text_fields

TERM_SHARDS = 4
# Longer tokens are indexed by their first characters (the record read confirms the rest).
MAX_TERM_CHARS = 64
# What a term row repeats of the by-day projection: what a result line shows, what the
# participant scope filters on, and the record to confirm a phrase in. Provider, status,
# media count and fingerprint are left out: a message has one row per distinct word, so
# every column is paid for about fifteen times (bench/README.md, "Keyword search").
TERM_COLUMNS = ("timestamp", "event", "direction", "type", "from", "to", "message_id",
                "business_id", "customer_id", "record_path")
# "~" sorts after every letter and digit a term key can hold below U+007F, and terms never
# contain it: ``<term>~`` .. ``<term>~~`` holds exactly one term's rows.
_SEPARATOR = "~"


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


def shard_of(message_key: str) -> int:
    return hashlib.sha256(message_key.encode("utf-8")).digest()[0] % TERM_SHARDS


def term_partition(day: str, shard: int) -> str:
    return f"{day}{_SEPARATOR}{shard}"


def day_partitions(day: str) -> list[str]:
    """Every term partition of one day (a search asks each)."""
    return [term_partition(day, shard) for shard in range(TERM_SHARDS)]


def term_row_key(term: str, newest_first: str) -> str:
    return f"{term}{_SEPARATOR}{newest_first}"


def term_bounds(term: str, low: str | None = None, high: str | None = None) -> tuple[str, str]:
    """``(low, high)``: ``low <= RowKey < high`` selects ``term``'s rows.

    ``low``/``high`` are optional newest-first bounds (archive.index.query_bounds) that
    narrow the rows to a time range inside the day.
    """
    prefix = f"{term}{_SEPARATOR}"
    return prefix + (low or ""), prefix + (high if high is not None else _SEPARATOR)


def term_entities(
    record: Mapping[str, Any], *, day: str, message_key: str, newest_first: str,
    columns: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One row per distinct term of the record, in one partition, with ``TERM_COLUMNS``."""
    partition = term_partition(day, shard_of(message_key))
    kept = {name: columns[name] for name in TERM_COLUMNS if name in columns}
    return [
        {"PartitionKey": partition, "RowKey": term_row_key(term, newest_first), **kept}
        for term in record_terms(record)
    ]
