"""Keyword search (issue 16): a term's first page over 30 days, beside raw Azurite calls.

    .venv/bin/python -m bench.text_search [--days 30] [--scales 1000 2000 3000] [--rounds 7]
        [--scan-rounds 3] [--seed-budget 900] [--json] [--save FILE]

Starts its own Azurite (temp folder, in-memory persistence: bench.search.InMemoryAzurite)
and seeds `--days` days of synthetic messages, growing the same archive through each
messages-per-day scale in `--scales` (1,000 then 2,000 ... per day; the earlier
messages stay, so every scale keeps the planted counts of the smaller ones). Each
message is a canonical record (archive.record.build_record) stored as a blob in
`records` under archive.layout.record_blob_name, and its index rows come from
archive.index.index_entities: the IndexByTerm rows (the keyword index: one partition per
word) and the IndexByDay row, written with batched upsert transactions (<= 100 rows, one
partition each, across the day's messages; the pipeline sends the same rows one message
at a time, one upsert per word). IndexByMessage and
IndexByParticipant rows are not written: no keyword search reads them, and on Azurite
another table's size does not change a query's time.

Texts: words drawn from a Zipf-like vocabulary (rank r has weight 1/r), 78 % texts, 12 %
images (most with a caption), 3 % documents (file name, sometimes a caption), 5 % edits,
2 % replies. Planted: a rare term in 10 messages (one caption, one edit), a three-word
phrase in 3 messages a day (one caption, one edit), whose lookup term also occurs on its
own (false candidates the phrase confirmation must read and reject).

At each scale, interleaved over `--rounds` rounds (random order per round), medians:
- search rare / common / phrase: admin.text_search.search_text, first page (25) over all
  days, with its TextPage stats (index queries, records read);
- raw partition: TableClient.query_entities of the common term's partition, the last
  day's RowKey range, first page (25): the single call a search is made of;
- raw listing: list_blobs of one day's records (every page);
then a scan of one day the way a day on or before the since marker is read
(search_text(scan=True): list the day, read every record), in records/s, extrapolated to
30 days x 100,000 messages. The marker is set to the day before the first seeded day, so
the searches above use the index for all the days.

Finally the added storage calls and cost per event: term rows per message (median, p95),
extra table transactions per message, the mean entity size (JSON as sent, and Azure's
documented billing formula), priced from admin/cost_data/prices-eastus.json for 100k and
1M events a day over 7 years beside the cost model's total (archive.cost.model.project).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Reused from the other benches: the in-memory Azurite, the create-only upload with the
# sha256 metadata the writers store, nearest-rank percentiles, the machine line.
from bench.common import machine, percentile
from bench.export import _upload
from bench.search import InMemoryAzurite

BUSINESS = "106540352242922"
FIRM_NUMBER = "15550783881"
CUSTOMERS = 400
PAGE = 25
FIRST_DAY = date(2026, 10, 1)
SECONDS_PER_DAY = 86_400
RARE = "zanzibarite"
PHRASE = "off the record"
# The top of the vocabulary (rank 1 first); RARE and the phrase words are placed below.
_COMMON_TEXT = (
    "the to you and i a is it for of in we that on be this have can will are with your "
    "me my at so just not do ok but what if all get please thanks send know when about "
    "now out up there here how was call from our need as or an time they today tomorrow "
    "yes no good by payment meeting price order account client money transfer file "
    "report invoice deal trade fund share bond rate market week update hi hello morning "
    "check let see back soon sure great done also any more then one two new"
)
_COMMON_WORDS = tuple(_COMMON_TEXT.split())
_SYLLABLE_TEXT = "ka ri to mu ne sa lo pe vi da go hu ze ba ti ro ma ke su ni al or en un is ar el"
_SYLLABLES = tuple(_SYLLABLE_TEXT.split())
# Ranks (0-based) of the phrase words in the vocabulary: "the" is common, "off" fairly
# common, "record" (the phrase's lookup term, the longest word) rare but present.
_PLACED = {"off": 60, "record": 300}
VOCABULARY_SIZE = 3000
_ALNUM = str.maketrans("+/", "Qz")  # wamids read as base64; keep them key-safe as is
COMMON = _COMMON_WORDS[0]
# Where the planted messages sit: RARE in message 7 of every third day (10 in all), the
# phrase in messages 13, 413 and 813 of every day (so at every scale >= 814 a day).
RARE_SLOT, RARE_EVERY = 7, 3
PHRASE_SLOTS = (13, 413, 813)


def vocabulary(size: int = VOCABULARY_SIZE) -> list[str]:
    """Common words first, then invented ones (2-4 syllables), the phrase words placed."""
    rng = random.Random(16)
    words = [w for w in _COMMON_WORDS if w not in _PLACED]
    seen = set(words) | set(_PLACED) | {RARE}
    while len(words) < size - len(_PLACED):
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    for word, rank in sorted(_PLACED.items(), key=lambda kv: kv[1]):
        words.insert(rank, word)
    return words


class Corpus:
    """Deterministic messages: message `i` of day `d` is the same whatever the scale."""

    def __init__(self, days: int, slots: int) -> None:
        self.days = days
        self.slots = slots  # distinct timestamps per day (the largest scale)
        self.words = vocabulary()
        weights = [1.0 / rank for rank in range(1, len(self.words) + 1)]
        self.cum = list(_accumulate(weights))

    def day(self, d: int) -> date:
        return FIRST_DAY + timedelta(days=d)

    def at(self, d: int, i: int) -> datetime:
        # A permutation of the day's slots: any prefix of messages spreads over the day.
        slot = (i * 7919) % self.slots
        start = datetime(*self.day(d).timetuple()[:3], tzinfo=UTC)
        return start + timedelta(microseconds=slot * SECONDS_PER_DAY * 1_000_000 // self.slots)

    def text(self, rng: random.Random, words: int | None = None) -> str:
        count = words if words is not None else min(40, 2 + int(rng.expovariate(1 / 8)))
        chosen = rng.choices(self.words, cum_weights=self.cum, k=count)
        sentence = " ".join(chosen)
        return sentence[:1].upper() + sentence[1:] + rng.choice((".", "?", "", "!", "..."))

    def planted(self, d: int, i: int) -> str | None:
        if i == RARE_SLOT and d % RARE_EVERY == 0:
            return RARE
        if i in PHRASE_SLOTS:
            return PHRASE
        return None

    def message(self, d: int, i: int) -> tuple[Any, str]:
        """(CanonicalEvent, kind) of message i on day d."""
        from archive.events import CanonicalEvent, EventKind, MediaRef

        rng = random.Random(f"{d}:{i}")
        digest = hashlib.sha256(f"{d}:{i}".encode()).digest()
        message_id = "wamid.HBgL" + base64.b64encode(digest[:30]).decode().translate(_ALNUM)
        customer = f"1444{rng.randrange(CUSTOMERS):07d}"
        inbound = rng.random() < 0.55
        text = self.text(rng)
        plant = self.planted(d, i)
        roll = rng.random()
        kind = ("text" if roll < 0.78 else "image" if roll < 0.90 else "document"
                if roll < 0.93 else "edit" if roll < 0.98 else "reply")
        if plant is not None:
            # Where the planted words go: mostly texts, one caption and one edit.
            index = d // RARE_EVERY if plant == RARE else PHRASE_SLOTS.index(i)
            kind = {1: "image", 2: "edit"}.get(index, "text")
            words = text.rstrip(".?!").split()
            cut = rng.randrange(len(words) + 1)
            text = " ".join([*words[:cut], plant, *words[cut:]]) + "."
        content: dict[str, Any] = {}
        media: tuple[Any, ...] = ()
        type_ = kind
        event: EventKind = "message"
        if kind in ("text", "reply"):
            type_ = "text"
            content = {"text": text}
            if kind == "reply":
                content["referenced_message_id"] = "wamid.HBgLprevious" + str(i)
        elif kind == "image":
            content = {"caption": text} if plant or rng.random() < 0.7 else {}
            media = (MediaRef(media_id=f"m{d}x{i}", mime_type="image/jpeg",
                              provider_sha256=None, filename=None, kind="image"),)
        elif kind == "document":
            name = "_".join(rng.choices(self.words[20:], k=2)) + ".pdf"
            content = {"filename": name, **({"caption": text} if rng.random() < 0.4 else {})}
            media = (MediaRef(media_id=f"m{d}x{i}", mime_type="application/pdf",
                              provider_sha256=None, filename=name, kind="document"),)
        else:  # an edit: the new text under content.edited, as archive.meta.messages has it
            type_, event = "edit", "edit"
            original = "wamid.HBgLoriginal" + str(i)
            content = {"original_message_id": original, "referenced_message_id": original,
                       "edited": {"type": "text", "text": text}}
        event_obj = CanonicalEvent(
            provider="meta", event=event, direction="inbound" if inbound else "outbound",
            message_id=message_id, sender=customer if inbound else FIRM_NUMBER,
            recipient=FIRM_NUMBER if inbound else customer, business_id=BUSINESS,
            customer_id=customer, timestamp=self.at(d, i), type=type_, content=content,
            media=media)
        return event_obj, kind


def _accumulate(values: Sequence[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


@dataclass
class Built:
    path: str
    data: bytes
    rows: dict[str, list[dict[str, Any]]]


def build(corpus: Corpus, d: int, i: int) -> Built:
    from archive.index import index_entities
    from archive.layout import record_blob_name
    from archive.record import MediaOutcome, RawRef, build_record, record_bytes

    event, _ = corpus.message(d, i)
    raw_sha = hashlib.sha256(f"raw {d}:{i}".encode()).hexdigest()
    raw_path = f"{event.timestamp:year=%Y/month=%m/day=%d}/{raw_sha}.json"
    outcomes = [MediaOutcome(m.media_id, "stored", f"media/{m.media_id}", raw_sha, 54_321,
                             m.mime_type, None) for m in event.media]
    record = build_record(event, raw=RawRef(raw_path, raw_sha), received_at=event.timestamp,
                          media=outcomes)
    path = record_blob_name(event)
    return Built(path, record_bytes(record), index_entities(record, path))


# --- the pure arithmetic (tests/unit/test_bench_text_search.py) --------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def azure_entity_bytes(entity: dict[str, Any]) -> int:
    """An entity's billed size by Azure's documented formula (Table service data model):
    4 + 2 x len(PartitionKey + RowKey) + per property 8 + 2 x len(name) + the value
    (string 4 + 2 x len, bool 1, int32 4, int64/double/datetime 8), plus the Timestamp
    the service adds. None-valued properties are not sent (azure-data-tables drops them)."""
    size = 4 + 2 * (len(entity["PartitionKey"]) + len(entity["RowKey"]))
    size += 8 + 2 * len("Timestamp") + 8
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey") or value is None:
            continue
        if isinstance(value, bool):
            value_size = 1
        elif isinstance(value, int):
            value_size = 4 if -(2**31) <= value < 2**31 else 8
        elif isinstance(value, float | datetime):
            value_size = 8
        else:
            value_size = 4 + 2 * len(str(value))
        size += 8 + 2 * len(name) + value_size
    return size


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``y = a + b x`` (b = 0 with fewer than two distinct x)."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return mean_y, 0.0
    b = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var
    return mean_y - b * mean_x, b


def sequential_seconds(index_queries: int, records_read: int, workers: int,
                       call_ms: float) -> float:
    """A first page's time if every storage call took `call_ms`: admin.text_search sends its
    index queries one after another (a word's partition, a page at a time) and reads the
    records to confirm in batches of `workers` at once."""
    return (index_queries + math.ceil(records_read / workers)) * call_ms / 1000


def kept_row_months(rows_per_day: float, years: int) -> float:
    """Row-months held over `years` when `rows_per_day` are added daily and all are kept to
    the end of the horizon (the cost model's convention for index rows: 365-day years,
    months of 365/12 days)."""
    days = years * 365
    return rows_per_day * days * (days + 1) / 2 * 12 / 365


def index_cost(events_per_day: float, years: int, rows_per_event: float,
               transactions_per_event: float, bytes_per_row: float,
               transaction_price_per_10k: float, gb_month_price: float) -> dict[str, float]:
    """The keyword index's added Table cost over `years` (no growth, nothing deleted)."""
    events = events_per_day * 365 * years
    transactions = events * transactions_per_event
    gb_months = kept_row_months(events_per_day * rows_per_event, years) * bytes_per_row / 2**30
    final_gb = events * rows_per_event * bytes_per_row / 2**30
    return {
        "events": events,
        "transactions": transactions,
        "transactions_cost": transactions * transaction_price_per_10k / 1e4,
        "rows_at_end": events * rows_per_event,
        "gb_at_end": final_gb,
        "gb_months": gb_months,
        "storage_cost": gb_months * gb_month_price,
        "total": transactions * transaction_price_per_10k / 1e4 + gb_months * gb_month_price,
    }


# --- seeding --------------------------------------------------------------------------


@dataclass
class SeedStats:
    messages: int = 0
    term_rows: int = 0
    day_rows: int = 0
    seconds: float = 0.0
    rows_per_message: list[int] = field(default_factory=list)
    transactions_per_message: list[int] = field(default_factory=list)
    json_bytes: int = 0
    azure_bytes: int = 0
    sized: int = 0


def seed_range(conn: str, corpus: Corpus, lo: int, hi: int, stats: SeedStats,
               threads: int) -> None:
    """Messages lo..hi-1 of every day: record blobs, IndexByTerm and IndexByDay rows."""
    from azure.core.exceptions import ResourceExistsError
    from azure.data.tables import TableServiceClient, UpdateMode
    from azure.data.tables._serialize import _add_entity_properties
    from azure.storage.blob import BlobServiceClient

    from archive.index import MAX_BATCH_OPS, partition_groups
    from archive.names import TABLE_BY_DAY, TABLE_BY_TERM

    records = BlobServiceClient.from_connection_string(conn).get_container_client("records")
    tables = TableServiceClient.from_connection_string(conn)
    clients = {t: tables.get_table_client(t) for t in (TABLE_BY_TERM, TABLE_BY_DAY)}
    sample = random.Random(lo)

    def send(job: tuple[str, list[dict[str, Any]]]) -> int:
        table, rows = job
        ops = [("upsert", row, {"mode": UpdateMode.MERGE}) for row in rows]
        _retried(lambda: clients[table].submit_transaction(ops))  # upserts: idempotent
        return len(rows)

    def upload(blob: tuple[str, bytes]) -> None:
        def once() -> None:
            # A retry after a reset connection may find its own first attempt stored.
            with contextlib.suppress(ResourceExistsError):
                _upload(records, *blob)
        _retried(once)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for d in range(corpus.days):
            grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
            blobs: list[tuple[str, bytes]] = []
            for i in range(lo, hi):
                built = build(corpus, d, i)
                blobs.append((built.path, built.data))
                terms = built.rows.get(TABLE_BY_TERM, [])
                stats.rows_per_message.append(len(terms))
                # What the pipeline sends for this message's term rows (storage.index_writer).
                stats.transactions_per_message.append(sum(
                    math.ceil(len(rows) / MAX_BATCH_OPS)
                    for table, _, rows in partition_groups(built.rows) if table == TABLE_BY_TERM))
                if terms and sample.random() < 0.05:
                    for row in terms:
                        stats.json_bytes += len(json.dumps(_add_entity_properties(row)))
                        stats.azure_bytes += azure_entity_bytes(row)
                        stats.sized += 1
                for table in (TABLE_BY_TERM, TABLE_BY_DAY):
                    for row in built.rows.get(table, []):
                        grouped.setdefault((table, row["PartitionKey"]), []).append(row)
            jobs = [(table, rows[at:at + MAX_BATCH_OPS]) for (table, _), rows in grouped.items()
                    for at in range(0, len(rows), MAX_BATCH_OPS)]
            list(pool.map(upload, blobs))
            for (table, _), rows in grouped.items():
                if table == TABLE_BY_TERM:
                    stats.term_rows += len(rows)
                else:
                    stats.day_rows += len(rows)
            list(pool.map(send, jobs))
            stats.messages += hi - lo
            elapsed = time.perf_counter() - started
            print(f"    day {d + 1:>2}/{corpus.days}: {stats.messages:>8} messages, "
                  f"{stats.term_rows:>9} term rows, {elapsed:6.1f} s", file=sys.stderr,
                  flush=True)
    stats.seconds += time.perf_counter() - started


def _retried(call: Callable[[], Any], attempts: int = 5) -> Any:
    """Azurite under this load now and then resets a connection (bench.search retries too)."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    for attempt in range(attempts):
        try:
            return call()
        except (ServiceRequestError, ServiceResponseError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    return None


def set_since(conn: str, day: date) -> None:
    """The marker row: days after `day` are indexed, days on or before it are scanned."""
    from azure.data.tables import TableServiceClient

    from archive.names import TABLE_BY_TERM
    from storage.index_writer import TERM_MARKER_PARTITION, TERM_MARKER_ROW

    tables = TableServiceClient.from_connection_string(conn)
    tables.get_table_client(TABLE_BY_TERM).upsert_entity(
        {"PartitionKey": TERM_MARKER_PARTITION, "RowKey": TERM_MARKER_ROW,
         "day": day.isoformat()})


def node_rss_mib(pid: int) -> float:
    """Azurite's resident memory (VmRSS of its node process), MiB."""
    for candidate in (pid, *_children(pid)):
        try:
            text = Path(f"/proc/{candidate}/status").read_text()
        except OSError:
            continue
        if "node" in Path(f"/proc/{candidate}/comm").read_text():
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [g for k in kids for g in _children(k)]


# --- measuring ------------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    answer = action()
    return (time.perf_counter() - start) * 1000, answer


def _stats(page: Any) -> dict[str, Any]:
    stats = page.stats()  # admin.text_search.TextPage: index_queries, records_read, days_*
    return dict(stats)


def measure_scale(conn: str, corpus: Corpus, per_day: int, rounds: int,
                  scan_rounds: int) -> dict[str, Any]:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

    from admin.connection import Archive, ArchiveTarget
    from admin.text_search import TextQuery, search_text
    from archive.index import range_filter
    from archive.names import TABLE_BY_TERM

    archive = Archive(ArchiveTarget(label="bench azurite", connection_string=conn))
    table = TableServiceClient.from_connection_string(conn).get_table_client(TABLE_BY_TERM)
    records = BlobServiceClient.from_connection_string(conn).get_container_client("records")
    start = datetime(*corpus.day(0).timetuple()[:3], tzinfo=UTC)
    end = datetime(*corpus.day(corpus.days - 1).timetuple()[:3], tzinfo=UTC) + timedelta(
        days=1, microseconds=-1)
    last_day = corpus.day(corpus.days - 1).isoformat()
    list_prefix = corpus.day(corpus.days - 1).strftime("year=%Y/month=%m/day=%d/")
    stats: dict[str, list[dict[str, Any]]] = {}

    def search(text: str, name: str) -> Callable[[], Any]:
        def run() -> Any:
            page = search_text(archive, TextQuery(text, start=start, end=end), page_size=PAGE)
            stats.setdefault(name, []).append({"rows": len(page.rows), **_stats(page)})
            return page
        return run

    def raw_partition() -> int:
        day_start = datetime.fromisoformat(last_day).replace(tzinfo=UTC)
        pager = table.query_entities(
            range_filter(COMMON, day_start, day_start + timedelta(days=1, microseconds=-1)),
            results_per_page=PAGE).by_page()
        rows = list(next(pager))
        assert len(rows) == PAGE, len(rows)
        return len(rows)

    def raw_listing() -> int:
        count = sum(1 for _ in records.list_blobs(name_starts_with=list_prefix))
        assert count == per_day, (count, per_day)
        return count

    ops: dict[str, Callable[[], Any]] = {
        "search rare": search(RARE, "search rare"),
        "search common": search(COMMON, "search common"),
        "search phrase": search(PHRASE, "search phrase"),
        "raw partition": raw_partition,
        "raw listing": raw_listing,
    }
    for op in ops.values():  # warm-up: connections, JIT, caches
        op()
    stats.clear()
    times: dict[str, list[float]] = {name: [] for name in ops}
    rng = random.Random(per_day)
    for number in range(rounds):
        order = list(ops.items())
        rng.shuffle(order)
        for name, op in order:
            ms, _ = timed(op)
            times[name].append(ms)
        print(f"    round {number + 1}/{rounds}: " + ", ".join(
            f"{n} {times[n][-1]:.0f}" for n in ops) + " ms", file=sys.stderr, flush=True)

    # One day scanned as an unindexed day is (scan=True reads every day of the range the way
    # it reads a day on or before the since marker: list the day, read every record).
    scan_times: list[float] = []
    scan_stats: list[dict[str, Any]] = []
    progress_calls: list[int] = []
    day0_end = start + timedelta(days=1, microseconds=-1)
    for _ in range(scan_rounds):
        calls = [0]

        def progress(_: Any, calls: list[int] = calls) -> None:
            calls[0] += 1

        def scan_day(progress: Callable[[Any], None] = progress) -> Any:
            return search_text(archive, TextQuery(RARE, start=start, end=day0_end),
                               page_size=PAGE, scan=True, progress=progress)

        ms, page = timed(scan_day)
        scan_times.append(ms)
        scan_stats.append({"rows": len(page.rows), **_stats(page)})
        progress_calls.append(calls[0])
        print(f"    scan of one day: {ms:.0f} ms, {scan_stats[-1]}, progress calls "
              f"{calls[0]}", file=sys.stderr, flush=True)
    return {"times_ms": times, "stats": stats, "scan_ms": scan_times,
            "scan_stats": scan_stats, "scan_progress_calls": progress_calls}


def summarize(per_day: int, days: int, seed: SeedStats, rss_mib: float,
              measured: dict[str, Any]) -> dict[str, Any]:
    times = measured["times_ms"]
    raw = median(times["raw partition"])
    out: dict[str, Any] = {
        "messages_per_day": per_day, "days": days, "messages": seed.messages,
        "term_rows": seed.term_rows, "day_rows": seed.day_rows,
        "azurite_rss_mib": rss_mib, "seed_seconds": seed.seconds, "paths": {},
    }
    for name, values in times.items():
        entry: dict[str, Any] = {"median_ms": median(values), "min_ms": min(values),
                                 "max_ms": max(values), "per_raw_partition": median(values) / raw}
        runs = measured["stats"].get(name) or []
        if runs:
            entry["stats"] = runs[0]
            entry["stats_vary"] = any(r != runs[0] for r in runs)
            calls = runs[0]["index_queries"] + runs[0]["records_read"]
            entry["ms_per_call"] = median(values) / calls if calls else float("nan")
        out["paths"][name] = entry
    scans = measured["scan_ms"]
    if scans:
        read = measured["scan_stats"][0].get("records_read") or per_day
        seconds = median(scans) / 1000
        out["scan"] = {
            "median_ms": median(scans), "records_read": read,
            "records_per_s": read / seconds, "stats": measured["scan_stats"][0],
            "progress_calls": measured["scan_progress_calls"],
            "per_raw_listing": median(scans) / median(times["raw listing"]),
            "extrapolated_30x100k_s": 30 * 100_000 / (read / seconds),
        }
    return out


# --- cost -----------------------------------------------------------------------------


def cost_section(seed: SeedStats, years: int) -> dict[str, Any]:
    from admin.cost import load_prices, load_storage_ops
    from archive.cost.assumptions import Assumptions, Workload
    from archive.cost.layouts import current_layout
    from archive.cost.model import project

    prices_path, raw_sheet, sheet = load_prices()
    _, ops = load_storage_ops()
    rows = seed.rows_per_message
    transactions = seed.transactions_per_message
    rows_mean = sum(rows) / len(rows)
    tx_mean = sum(transactions) / len(transactions)
    json_bytes = seed.json_bytes / max(1, seed.sized)
    azure_bytes = seed.azure_bytes / max(1, seed.sized)
    out: dict[str, Any] = {
        "messages": len(rows),
        "term_rows_per_message": {"mean": rows_mean, "median": median(rows),
                                  "p95": percentile([float(r) for r in rows], 95),
                                  "max": max(rows), "zero": sum(1 for r in rows if r == 0)},
        "transactions_per_message": {"mean": tx_mean, "max": max(transactions)},
        "entity_bytes": {"json_as_sent": json_bytes, "azure_formula": azure_bytes,
                         "sampled": seed.sized},
        "prices": {"file": str(prices_path),
                   "table.transactions_per_10k": sheet("table.transactions_per_10k"),
                   "table.capacity_gb_month": sheet("table.capacity_gb_month"),
                   "status": {k: raw_sheet["prices"][k]["status"] for k in
                              ("table.transactions_per_10k", "table.capacity_gb_month")}},
        "workloads": {},
    }
    for per_day in (100_000, 1_000_000):
        added = index_cost(per_day, years, rows_mean, tx_mean, azure_bytes,
                           sheet("table.transactions_per_10k"), sheet("table.capacity_gb_month"))
        model = project(Assumptions(Workload(events_per_day=per_day, years=years)), sheet, ops,
                        current_layout())
        out["workloads"][str(per_day)] = {
            **added, "model_total": model.total,
            "model_index_tables": model.totals()["index_tables"],
            "share_of_model_total": added["total"] / model.total,
        }
    return out


# --- output ---------------------------------------------------------------------------


def extrapolate(scales: list[dict[str, Any]], rows_per_message: float) -> dict[str, Any]:
    """What 30 days x 100k a day would mean on Azurite, from the trend over the scales."""
    target_rows = 30 * 100_000 * rows_per_message
    xs = [float(s["term_rows"]) for s in scales]
    out: dict[str, Any] = {"target_term_rows": target_rows}
    for name in ("raw partition", "search rare", "search common", "search phrase"):
        a, b = linear_fit(xs, [s["paths"][name]["median_ms"] for s in scales])
        out[name] = {"ms_per_million_rows": b * 1e6, "fixed_ms": a,
                     "at_target_s": (a + b * target_rows) / 1000}
    a, b = linear_fit(xs, [s["azurite_rss_mib"] for s in scales])
    out["azurite_rss_gib_at_target"] = (a + b * target_rows) / 1024
    out["azurite_rss_bytes_per_row"] = b * 2**20
    return out


def render(result: dict[str, Any]) -> list[str]:
    lines = [f"machine: {result['machine']}", ""]
    header = (f"{'scale (msg/day x days)':<28}{'path':<16}{'median ms':>10}{'min-max':>16}"
              f"{'/ raw part.':>12}  calls (index queries, records read, rows)")
    lines.append(header)
    for s in result["scales"]:
        label = f"{s['messages_per_day']:,} x {s['days']} ({s['term_rows']:,} rows) "
        for name, p in s["paths"].items():
            st = p.get("stats") or {}
            calls = (f"{st['index_queries']} q + {st['records_read']} reads, "
                     f"{st['rows']} rows, {p['ms_per_call']:.1f} ms/call" if st else
                     "1 call" if name == "raw partition"
                     else f"{math.ceil(s['messages_per_day'] / 5000)} list call(s)")
            lines.append(f"{label:<28}{name:<16}{p['median_ms']:>10.1f}"
                         f"{p['min_ms']:>7.0f}-{p['max_ms']:<8.0f}{p['per_raw_partition']:>12.1f}"
                         f"  {calls}")
            label = ""
        if "scan" in s:
            sc = s["scan"]
            lines.append(f"{'':<28}{'scan 1 day':<16}{sc['median_ms']:>10.1f}{'':>16}"
                         f"{sc['median_ms'] / s['paths']['raw partition']['median_ms']:>12.1f}"
                         f"  {sc['records_read']} records, {sc['records_per_s']:.0f} rec/s; "
                         f"30 x 100k: {sc['extrapolated_30x100k_s'] / 60:.0f} min")
        lines.append(f"{'':<28}Azurite RSS {s['azurite_rss_mib']:.0f} MiB, seeded in "
                      f"{s['seed_seconds']:.0f} s")
    ex = result.get("extrapolation")
    if ex:
        lines.append("")
        lines.append(f"linear trend over the scales, extrapolated to 30 x 100k "
                     f"({ex['target_term_rows'] / 1e6:.0f}M term rows) on Azurite:")
        for name in ("raw partition", "search rare", "search common", "search phrase"):
            e = ex[name]
            lines.append(f"  {name:<15} {e['ms_per_million_rows']:8.1f} ms per million rows"
                         f" -> {e['at_target_s']:8.1f} s")
        lines.append(f"  Azurite memory  {ex['azurite_rss_bytes_per_row']:.0f} B per row -> "
                     f"{ex['azurite_rss_gib_at_target']:.0f} GiB")
    az = result.get("azure_estimate")
    if az:
        lines.append("")
        lines.append("calls x latency, largest scale's call counts (Azure latencies assumed, "
                     "not measured): " + "; ".join(
                         f"{name} " + ", ".join(f"{v:.2f} s at {float(ms):.0f} ms"
                                                for ms, v in per.items())
                         for name, per in az.items()))
    c = result["cost"]
    r, t, b = c["term_rows_per_message"], c["transactions_per_message"], c["entity_bytes"]
    lines += ["", f"added per message ({c['messages']:,} messages): term rows mean "
              f"{r['mean']:.1f}, median {r['median']:.0f}, p95 {r['p95']:.0f}, max {r['max']} "
              f"({r['zero']} with none); table transactions {t['mean']:.3f} (max {t['max']})",
              f"entity size: {b['json_as_sent']:.0f} B JSON as sent, {b['azure_formula']:.0f} B "
              f"by Azure's billing formula ({b['sampled']} sampled)",
              f"prices: {c['prices']['table.transactions_per_10k']} USD / 10k transactions, "
              f"{c['prices']['table.capacity_gb_month']} USD / GB-month "
              f"({c['prices']['status']})"]
    for per_day, w in c["workloads"].items():
        lines.append(f"  {int(per_day):>9,} events/day, {result['years']} years: "
                     f"+{w['transactions'] / 1e6:,.0f}M transactions ${w['transactions_cost']:,.0f}"
                     f", {w['gb_at_end']:,.0f} GB at the end, {w['gb_months']:,.0f} GB-months "
                     f"${w['storage_cost']:,.0f}; total +${w['total']:,.0f} = "
                     f"{100 * w['share_of_model_total']:.1f} % of the model's "
                     f"${w['model_total']:,.0f}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.text_search", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[5:]))
    parser.add_argument("--days", type=int, default=30, help="days seeded and searched (30)")
    parser.add_argument("--scales", type=int, nargs="+", default=[1000, 2000, 3000],
                        help="messages per day, ascending; the archive grows through them")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per scale")
    parser.add_argument("--scan-rounds", type=int, default=3, help="scans of one day per scale")
    parser.add_argument("--threads", type=int, default=8, help="seeding threads")
    parser.add_argument("--seed-budget", type=float, default=900.0,
                        help="stop growing (skip the larger scales) once seeding took this "
                             "many seconds in all")
    parser.add_argument("--years", type=int, default=7, help="cost horizon (7)")
    parser.add_argument("--call-ms", type=float, nargs="+", default=[10.0, 40.0],
                        help="assumed latencies of one storage call on Azure for the "
                             "calls-times-latency estimate (not measured here)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--save", type=Path, help="also write the JSON results to this file")
    args = parser.parse_args(argv)
    scales = sorted(set(args.scales))
    if scales[0] <= max(PHRASE_SLOTS):
        parser.error(f"the smallest scale must exceed {max(PHRASE_SLOTS)} messages a day "
                     "(the planted phrase's last slot)")
    from storage.provision import ensure_archive_resources

    corpus = Corpus(args.days, scales[-1])
    seed = SeedStats()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-text-search-") as tmp:
        azurite = InMemoryAzurite(Path(tmp))
        azurite.start()
        try:
            conn = azurite.connection_string
            ensure_archive_resources(conn)
            set_since(conn, corpus.day(0) - timedelta(days=1))
            done = 0
            for per_day in scales:
                if seed.seconds > args.seed_budget:
                    print(f"  seed budget spent ({seed.seconds:.0f} s): {per_day}/day skipped",
                          file=sys.stderr)
                    break
                print(f"  seeding to {per_day}/day x {args.days} days", file=sys.stderr)
                seed_range(conn, corpus, done, per_day, seed, args.threads)
                done = per_day
                rss = node_rss_mib(azurite._proc.pid) if azurite._proc else float("nan")
                print(f"  measuring at {per_day}/day", file=sys.stderr)
                measured = measure_scale(conn, corpus, per_day, args.rounds, args.scan_rounds)
                results.append(summarize(per_day, args.days, seed, rss, measured))
        finally:
            azurite.stop()
    result: dict[str, Any] = {
        "machine": machine(), "command": " ".join(["python -m bench.text_search",
                                                    *(argv if argv is not None else sys.argv[1:])]),
        "years": args.years, "planted": {
            "rare": RARE, "rare_messages": len(range(0, args.days, RARE_EVERY)),
            "phrase": PHRASE, "phrase_messages": len(PHRASE_SLOTS) * args.days,
            "common": COMMON},
        "scales": results,
        "cost": cost_section(seed, args.years),
    }
    if results:
        result["extrapolation"] = extrapolate(
            results, result["cost"]["term_rows_per_message"]["mean"])
        result["azure_estimate"] = {
            name: {str(ms): sequential_seconds(st["index_queries"], st["records_read"], 8, ms)
                   for ms in args.call_ms}
            for name, p in results[-1]["paths"].items() if (st := p.get("stats"))}
    if args.save:
        args.save.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    if args.json:
        json.dump(result, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        print("\n".join(render(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
