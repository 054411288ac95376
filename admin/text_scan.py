"""Scanning one day of records for keyword search (admin.text_search).

Days whose records may have no term rows (archived before the term index existed), and
every day with ``--scan``, are read record by record: the day folder of the ``records``
container is listed (streamed, a page at a time), names that cannot hold text are
skipped without a read, and the rest are read by a bounded number of threads.

A listing is in name order, not time order, so a day is always read whole; only the
``need + 1`` newest matches after the caller's last key are kept (memory bounded by the
page, not by the day), which also tells whether the day holds more than a page.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from admin.connection import Archive
from archive.index import index_entities
from archive.lexicon.record_fields import READ_EVENTS
from archive.names import RECORDS_CONTAINER, TABLE_BY_DAY
from archive.text_index import TERM_COLUMNS

# Progress is reported every this many records (and at a day's start and end), so a TUI
# is not sent one UI call per record.
PROGRESS_EVERY = 25
CONFLICT_MARK = ".conflict-"  # archive.layout.conflict_blob_name
# Reads in flight per worker thread: enough to keep them busy, few enough to bound memory.
_WINDOW_PER_WORKER = 4

Match = tuple[str, dict[str, Any]]  # (newest-first key of the by-day index, row)


@dataclass(frozen=True)
class DayScan:
    archive: Archive
    pool: ThreadPoolExecutor
    workers: int
    start: datetime | None
    end: datetime | None
    match: Callable[[dict[str, Any], str], Match | None]  # (record, blob name) -> match


def read_record(archive: Archive, path: str) -> dict[str, Any] | None:
    """A record by blob name; None when it is gone (disposed of since it was listed)."""
    if not path:
        return None
    container = archive.container(RECORDS_CONTAINER)
    try:
        data = archive.call("blob", "read a record",
                            lambda: container.download_blob(path).readall())
    except ResourceNotFoundError:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def day_folder(day: str) -> str:
    """The records' day folder (archive.layout.date_prefix) of a ``YYYY-MM-DD`` day."""
    year, month, dom = day.split("-")
    return f"year={year}/month={month}/day={dom}/"


def worth_reading(name: str, start: float | None, end: float | None) -> bool:
    """From the name alone (``<epoch>-<event>-<direction>...json``): a text-bearing event
    inside the time range? Statuses, reactions and calls are never opened."""
    leaf = name.rsplit("/", 1)[-1]
    if CONFLICT_MARK in leaf:
        # A conflicting second version is kept and flagged (IndexFailures), never indexed:
        # a scan skips it too, so a scan and the index give the same answer.
        return False
    epoch_text, _, rest = leaf.partition("-")
    if rest.split("-", 1)[0] not in READ_EVENTS or not (
            epoch_text.isascii() and epoch_text.isdigit()):
        return False
    epoch = int(epoch_text)  # whole seconds: the record's time is in [epoch, epoch + 1)
    return not ((start is not None and epoch + 1 <= start) or (end is not None and epoch > end))


def record_row(record: dict[str, Any], name: str) -> Match | None:
    """The record's term-row columns, as the index would give them back (no None values)."""
    try:
        by_day = index_entities(record, name)[TABLE_BY_DAY][0]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not a well-formed record: nothing the index would show either
    row = {k: v for k, v in by_day.items() if k in TERM_COLUMNS and v is not None}
    return str(by_day["RowKey"]), row


def _one(scan: DayScan, name: str) -> Match | None:
    record = read_record(scan.archive, name)
    return None if record is None else scan.match(record, name)


def scan_day(scan: DayScan, day: str, *, after: str | None, need: int,
             progress: Callable[[int, int], None] | None) -> tuple[list[Match], bool, int]:
    """(the ``need`` newest matches after ``after``, whether the day has more, records read).

    ``progress(done, total)``: total is what the listing has given so far.
    """
    best: list[Match] = []
    start = scan.start.timestamp() if scan.start else None
    end = scan.end.timestamp() if scan.end else None
    listing = iter(scan.archive.container(RECORDS_CONTAINER).list_blobs(
        name_starts_with=day_folder(day)))
    names = (b.name for b in listing if worth_reading(b.name, start, end))
    done = total = 0
    pending: set[Future[Match | None]] = set()

    def report(force: bool = False) -> None:
        if progress is not None and (force or done % PROGRESS_EVERY == 0):
            progress(done, total)

    def collect(finished: set[Future[Match | None]]) -> None:
        nonlocal done
        for future in finished:
            result = future.result()
            done += 1
            report()
            if result is None or (after is not None and result[0] <= after):
                continue
            bisect.insort(best, result, key=lambda m: m[0])  # keys are unique per record
            del best[need + 1:]

    report(force=True)
    while True:
        name = scan.archive.call("blob", "list a day of records", lambda: next(names, None))
        if name is not None:
            total += 1
            pending.add(scan.pool.submit(_one, scan, name))
        if pending and (name is None or len(pending) >= scan.workers * _WINDOW_PER_WORKER):
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            collect(finished)
        if name is None and not pending:
            break
    report(force=True)
    return best[:need], len(best) > need, done
