"""Keyword search (`wa-archive search --text`): the term index, confirmed by the records.

The text is a lexicon pattern (a phrase, or ``A NEAR/n B``), matched exactly as lexicon
supervision matches it (archive.lexicon: NFKC, case and diacritics folded) over the same
record fields (texts, captions, document filenames, edits).

The range is searched newest first, in two segments:

- The INDEXED days (after the IndexByTerm marker's day, see storage.index_writer), all
  at once: ONE RowKey range query on the partition of one term (the phrase's longest
  word, archive.text_index.lookup_term), newest first, paged lazily. Each candidate is
  confirmed by reading its record and evaluating a one-rule policy, because a row says
  only that a word occurs, not the phrase or NEAR. A single whole word needs no read:
  its row proves it (``fields`` is then [] since no record was opened).
- Then the SCANNED days (on or before the marker's day: records archived before term
  rows existed; every day with ``scan=True``), one at a time: the day's records are
  listed (streamed), statuses and other events are skipped by name, the rest are read
  by ``workers`` threads and evaluated; ``progress`` is told as records are done
  (admin.text_scan). A scanned day is read whole (listing order is not time order);
  only its newest matches are kept.

A page stops as soon as it is full; the continuation token names the segment (``index``
or the scanned day) and the last row given (its newest-first key), so the next page
starts right after it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import AdminError, Archive
from admin.search import (
    DEFAULT_PAGE,
    MAX_DAY_SPAN,
    decode_page_token,
    describe_facets,
    encode_page_token,
)
from admin.text_scan import DayScan, Match, read_record, record_row, scan_day
from archive.index import days_between, odata_literal, range_filter, without_keys
from archive.lexicon import Pattern, PolicyError, compile_policy, parse_pattern, parse_policy
from archive.lexicon.matching import CompiledPolicy
from archive.lexicon.policy import LEXICON_SCHEMA, participant_key
from archive.names import TABLE_BY_TERM
from archive.text_index import MAX_TERM_CHARS, lookup_term, term_key
from storage.index_writer import TERM_MARKER_PARTITION, TERM_MARKER_ROW

DEFAULT_DAYS = 30
MAX_TEXT_CHARS = 500
# A newest-first key (archive.index): inverted ticks, encoded message, event, fingerprint.
_KEY = re.compile(r"\A[0-9]{19}-[A-Za-z0-9._~-]{1,1000}\Z")
_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_TOKEN_VERSION = 2
# The continuation's segment name for the indexed days ("d" is otherwise a scanned day).
_INDEX_SEGMENT = "index"
# Rows per term query page: a first page of a word is usually one call.
_TERM_PAGE = 100


@dataclass(frozen=True)
class TextQuery:
    text: str
    participant: str | None = None
    start: datetime | None = None  # aware UTC; default: end - 30 days
    end: datetime | None = None  # default: now

    def describe(self) -> dict[str, Any]:
        return describe_facets(self)


@dataclass(frozen=True)
class TextProgress:
    """Reported while days are scanned (not while index queries run)."""

    day: str
    done: int  # records of this day read so far
    total: int  # records of this day to read, listed so far (grows while listing streams)
    days_done: int
    days_total: int


@dataclass
class TextPage:
    rows: list[dict[str, Any]]
    continuation: str | None
    index_queries: int = 0
    records_read: int = 0
    days_indexed: int = 0
    days_scanned: int = 0

    def stats(self) -> dict[str, int]:
        return {"index_queries": self.index_queries, "records_read": self.records_read,
                "days_indexed": self.days_indexed, "days_scanned": self.days_scanned}

    def to_json(self) -> dict[str, Any]:
        return {"table": TABLE_BY_TERM, "rows": self.rows, "continuation": self.continuation,
                "stats": self.stats()}


@dataclass
class _Search:
    """One page's work: the compiled query, the clients, and what it cost."""

    archive: Archive
    query: TextQuery
    policy: CompiledPolicy
    term: str
    needs_read: bool
    pool: ThreadPoolExecutor
    workers: int
    page: TextPage
    progress: Callable[[TextProgress], None] | None
    rows: list[dict[str, Any]] = field(default_factory=list)


def _policy(text: str) -> tuple[Pattern, CompiledPolicy]:
    try:
        pattern = parse_pattern(text, field="--text")
        policy = parse_policy({"schema": LEXICON_SCHEMA, "name": "search",
                               "rules": [{"id": "search", "pattern": text}]})
    except PolicyError as exc:
        raise AdminError(f"--text: {exc}") from None
    return pattern, compile_policy(policy)


def _query_digest(query: TextQuery, scan: bool) -> str:
    """Ties a continuation token to its query: a token of another search is refused."""
    doc = json.dumps([query.describe(), scan], sort_keys=True, default=str)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()[:16]


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _utc(moment: datetime | None) -> datetime | None:
    """A naive time means UTC, as on the command line."""
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def _resume(token: str | None, digest: str) -> dict[str, Any]:
    """A validated token's state: ``d`` day, ``a`` key given last (or None), ``s``/``e``
    the time range the first page resolved (so "now" does not move between pages)."""
    if not token:
        return {}
    state = decode_page_token(token)
    bad = AdminError("invalid --page token (copy it from the previous page of this search)")
    if state.get("v") != _TOKEN_VERSION or state.get("q") != digest:
        raise bad
    day, after = state.get("d"), state.get("a")
    if not isinstance(day, str) or not (day == _INDEX_SEGMENT or _DAY.match(day)):
        raise bad
    if after is not None and (not isinstance(after, str) or not _KEY.match(after)):
        raise bad
    if _when(state.get("s")) is None or _when(state.get("e")) is None:
        raise bad
    return state


def _participant_ok(row: dict[str, Any], participant: str | None) -> bool:
    if not participant:
        return True
    wanted = participant_key(participant)
    return any(
        isinstance(row.get(column), str) and participant_key(row[column]) == wanted
        for column in ("from", "to", "business_id", "customer_id")
    )


def _marker_day(archive: Archive) -> str | None:
    """The day term rows started (None: no term rows yet, or no IndexByTerm table)."""
    client = archive.tables.get_table_client(TABLE_BY_TERM)
    try:
        entity = archive.call("table", f"read the {TABLE_BY_TERM} marker",
                              lambda: client.get_entity(TERM_MARKER_PARTITION, TERM_MARKER_ROW))
    except ResourceNotFoundError:
        return None
    day = entity.get("day")
    return day if isinstance(day, str) and _DAY.match(day) else None


def _fields(search: _Search, record: dict[str, Any]) -> list[str]:
    return list(search.policy.evaluate(record))


# -- indexed days ---------------------------------------------------------------------------


def _term_rows(search: _Search, start: datetime, end: datetime, after: str | None
               ) -> Iterator[dict[str, Any]]:
    """The term's rows from ``start`` to ``end``, newest first, fetched a page at a time
    (lazily: the page asks for more only when it needs it)."""
    query_filter = range_filter(search.term, start, end)
    if after is not None:
        query_filter += f" and RowKey gt {odata_literal(after)}"
    client = search.archive.tables.get_table_client(TABLE_BY_TERM)
    pages: Any = client.query_entities(query_filter, results_per_page=_TERM_PAGE).by_page()
    while True:
        page = search.archive.call("table", f"query table {TABLE_BY_TERM}",
                                   lambda: next(pages, None))
        if page is None:
            return
        search.page.index_queries += 1
        yield from (dict(entity) for entity in page)


def _indexed_span(search: _Search, start: datetime, end: datetime, after: str | None,
                  size: int) -> str | None:
    """Fill the page from the indexed days; returns the key of the last row given when the
    page filled (the index may hold more), else None."""
    candidates = (e for e in _term_rows(search, start, end, after)
                  if _participant_ok(e, search.query.participant))
    while len(search.rows) < size:
        batch = list(islice(candidates, max(search.workers, size - len(search.rows))))
        if not batch:
            return None
        if search.needs_read:
            records = list(search.pool.map(
                lambda e: read_record(search.archive, str(e.get("record_path") or "")), batch))
            search.page.records_read += len(batch)
        else:
            records = [None] * len(batch)
        for entity, record in zip(batch, records, strict=True):
            found = _fields(search, record) if record is not None else []
            if search.needs_read and not found:
                continue
            search.rows.append(without_keys(entity) | {"fields": found})
            if len(search.rows) == size:
                return str(entity["RowKey"])
    return None


# -- scanned days ---------------------------------------------------------------------------


def _in_range(row: dict[str, Any], query: TextQuery) -> bool:
    try:
        ts = datetime.fromisoformat(str(row.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:
        return False
    return not ((query.start and ts < query.start) or (query.end and ts > query.end))


def _scan_match(search: _Search, record: dict[str, Any], name: str) -> Match | None:
    found = _fields(search, record)
    match = record_row(record, name) if found else None
    if match is None:
        return None
    key, row = match
    if not _participant_ok(row, search.query.participant) or not _in_range(row, search.query):
        return None
    return key, row | {"fields": found}


def _scan_day(search: _Search, day: str, after: str | None, size: int,
              days: tuple[int, int]) -> str | None:
    """Add one scanned day's newest rows after ``after``. Returns the key of the last row
    given when the day had more than the page could take, else None."""
    progress = search.progress
    scan = DayScan(search.archive, search.pool, search.workers, search.query.start,
                   search.query.end, lambda record, name: _scan_match(search, record, name))
    taken, more, read = scan_day(
        scan, day, after=after, need=size - len(search.rows),
        progress=None if progress is None else
        lambda done, total: progress(TextProgress(day, done, total, *days)))
    search.page.records_read += read
    search.rows.extend(row for _, row in taken)
    return taken[-1][0] if more and taken else None


# -- the page -------------------------------------------------------------------------------


def _token(digest: str, segment: str, after: str | None, start: datetime,
           end: datetime) -> str:
    return encode_page_token({"v": _TOKEN_VERSION, "q": digest, "d": segment, "a": after,
                       "s": start.isoformat(), "e": end.isoformat()})


def search_text(
    archive: Archive,
    query: TextQuery,
    *,
    page_size: int = DEFAULT_PAGE,
    continuation: str | None = None,
    scan: bool = False,
    progress: Callable[[TextProgress], None] | None = None,
    workers: int = 8,
) -> TextPage:
    """One page of records matching ``query.text``, newest first (see the module doc)."""
    text = query.text.strip()
    if not text:
        raise AdminError("--text needs a word or phrase")
    if len(text) > MAX_TEXT_CHARS:
        raise AdminError(f"--text is at most {MAX_TEXT_CHARS} characters")
    if page_size < 1:
        raise AdminError("--limit must be at least 1")
    if workers < 1:
        raise AdminError("workers must be at least 1")
    pattern, policy = _policy(text)
    digest = _query_digest(query, scan)
    state = _resume(continuation, digest)
    end = _utc(query.end) or _when(state.get("e")) or datetime.now(UTC)
    start = _utc(query.start) or _when(state.get("s")) or end - timedelta(days=DEFAULT_DAYS)
    if start > end:
        raise AdminError("--from is after --to")
    days = days_between(start, end)
    if len(days) > MAX_DAY_SPAN:
        raise AdminError(f"a text search spans at most {MAX_DAY_SPAN} days; narrow --from/--to")
    query = TextQuery(text, query.participant, start, end)
    keys = (*pattern.first, *(pattern.second or ()))
    term = lookup_term([term_key(k) for k in keys])
    # One whole word: its term row proves the match. A phrase, NEAR or a cut term: read.
    single_word = len(keys) == 1 and len(keys[0]) < MAX_TERM_CHARS
    page = TextPage(rows=[], continuation=None)
    marker = None if scan else _marker_day(archive)
    if not scan:
        page.index_queries += 1
    # Days after the marker's are indexed; they are the newest, so they come first.
    indexed = [] if marker is None else [day for day in days if day > marker]
    scanned = days[len(indexed):]
    segment, after = (state["d"], state.get("a")) if state else (None, None)
    if (segment is not None and segment not in (_INDEX_SEGMENT, *scanned)) or (
            segment == _INDEX_SEGMENT and not indexed):
        raise AdminError("invalid --page token (copy it from the previous page of this search)")
    position = scanned.index(segment) if segment in scanned else 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="text-search") as pool:
        search = _Search(archive, query, policy, term, not single_word, pool,
                         workers, page, progress)
        if indexed and segment in (None, _INDEX_SEGMENT):
            page.days_indexed = len(indexed)
            first = datetime.fromisoformat(indexed[-1]).replace(tzinfo=UTC)
            last = _indexed_span(search, max(start, first), end, after, page_size)
            if last is not None:
                page.rows = search.rows
                page.continuation = _token(digest, _INDEX_SEGMENT, last, start, end)
                return page
            after = None
        while position < len(scanned) and len(search.rows) < page_size:
            day = scanned[position]
            page.days_scanned += 1
            last = _scan_day(search, day, after, page_size,
                             (len(indexed) + position, len(days)))
            if last is not None:
                after = last
                break
            position, after = position + 1, None
    page.rows = search.rows
    if position < len(scanned):
        page.continuation = _token(digest, scanned[position], after, start, end)
    return page
