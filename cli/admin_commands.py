"""`wa-archive backlog | failures | replay | search | show | audit`: the admin CLI.

Each command is the twin of a TUI screen and calls the same admin/ functions; every
read command has `--json` for scripts. Errors print one line and exit 2.

Human output passes every value through admin.text.printable: ids, references and
reasons come from providers and must not drive the terminal. `--json` keeps the exact
values (JSON escapes control characters).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from admin.actions import (
    audited_detail,
    audited_replay,
    audited_search,
    audited_text_search,
)
from admin.audit import recent_entries
from admin.backlog import backlog
from admin.connection import DATA_DIR_SETTING, AdminError, Archive, open_archive
from admin.durable_api import DurableApiError, open_durable
from admin.failures import DEFAULT_WINDOW_DAYS, failures, orchestration_failures
from admin.search import COLUMNS, DEFAULT_PAGE, PROVIDERS, SearchQuery
from admin.text import printable, printable_lines
from admin.text_search import TextProgress, TextQuery
from archive.names import SETTING_ARCHIVE_STORAGE

NOT_CONFIGURED = "set WA_DURABLE_API_URL and WA_DURABLE_API_KEY (or run `wa-archive dev`)"


def _emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        human()


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    cells = [[printable(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def parse_when(text: str, *, end: bool = False) -> datetime:
    """YYYY-MM-DD (a whole day: --to means its end) or ISO-8601; naive means UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end else moment
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO-8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _run_backlog(args: argparse.Namespace, archive: Archive) -> int:
    result = backlog(archive)

    def human() -> None:
        age = result.oldest_age_seconds
        print(f"ingest:        ~{result.ingest_depth} message(s)")
        print(f"oldest:        {'-' if age is None else f'{age:.0f}s ago'}")
        print(f"ingest-poison: ~{result.poison_depth} message(s)")

    _emit(args, result.to_json(), human)
    return 0


def _run_failures(args: argparse.Namespace, archive: Archive) -> int:
    found = failures(archive, since_day=args.since, limit=args.limit)
    durable = open_durable(args.data_dir)
    note = f"orchestrations not listed: {NOT_CONFIGURED}" if durable is None else None
    if durable is not None:
        try:
            found = orchestration_failures(durable, days=args.days, limit=args.limit) + found
        except DurableApiError as exc:
            note = f"orchestrations not listed: {exc}"
    if note:
        print(f"wa-archive failures: {printable(note)}", file=sys.stderr)

    def human() -> None:
        if not found:
            print("no failures")
            return
        _table([f.to_json() for f in found], ("id", "label", "day", "ref", "reason"))

    _emit(args, [f.to_json() for f in found], human)
    return 0


def _run_replay(args: argparse.Namespace, archive: Archive) -> int:
    def progress(done: int, total: int | None) -> None:
        if not args.json:
            print(f"replayed {done}/{total if total is not None else '?'}", file=sys.stderr)

    wants_durable = any(i.startswith("orchestration:") for i in args.id or ())
    result = audited_replay(
        archive, ids=args.id or None, all_poison=args.all_poison, progress=progress,
        durable=open_durable(args.data_dir) if wants_durable else None,
    )

    def human() -> None:
        print(f"replayed {len(result.replayed)} message(s) to ingest")
        for instance_id in result.restarted:
            print(f"restarted orchestration {printable(instance_id)}")
        for gap in result.refetching:
            print(f"refetch requested for {printable(gap)} "
                  "(the gap closes when the media is stored)")
        for letter in result.requeued:
            print(f"requeued {printable(letter)} to ingest")
        for missing in result.not_found:
            print(f"not in ingest-poison: {printable(missing)}")

    _emit(args, result.to_json(), human)
    return 1 if result.not_found else 0


# Facets a keyword search does not narrow by (yet): refused rather than silently ignored.
_NOT_WITH_TEXT = (("business", "--business"), ("customer", "--customer"),
                  ("direction", "--direction"), ("type", "--type"),
                  ("message_id", "--message-id"), ("provider", "--provider"))


class _ScanProgress:
    """Scanning progress on stderr: a line when a day's scan ends, and every tenth of a big
    day. Never the records' names or content, only counts."""

    def __init__(self) -> None:
        self.day: str | None = None
        self.shown = 0

    def __call__(self, p: TextProgress) -> None:
        if p.day != self.day:
            self.day, self.shown = p.day, 0
        step = max(500, p.total // 10)
        last = p.done == p.total and p.done > 0 and self.shown != p.done
        if last or p.done - self.shown >= step:
            self.shown = p.done
            where = f"day {p.days_done + 1}/{p.days_total}"
            print(f"scanning {p.day} ({where}): {p.done}/{p.total} record(s)", file=sys.stderr)


def _run_text_search(args: argparse.Namespace, archive: Archive) -> int:
    given = [flag for attr, flag in _NOT_WITH_TEXT if getattr(args, attr)]
    if given:
        raise AdminError(f"--text combines with --participant, --from and --to only, "
                         f"not {', '.join(given)}")
    query = TextQuery(text=args.text, participant=args.participant, start=args.start,
                      end=args.end)
    page = audited_text_search(archive, query, page_size=args.limit, continuation=args.page,
                               scan=args.scan, progress=_ScanProgress())

    def human() -> None:
        _table([r | {"fields": ",".join(r.get("fields") or ())} for r in page.rows],
               (*COLUMNS, "fields"))
        print(f"{page.days_indexed} day(s) from the index, {page.days_scanned} scanned, "
              f"{page.records_read} record(s) read")
        if page.continuation:
            print(f"more: --page {page.continuation}")

    _emit(args, page.to_json(), human)
    return 0


def _run_search(args: argparse.Namespace, archive: Archive) -> int:
    if args.text is not None:
        return _run_text_search(args, archive)
    if args.scan:
        raise AdminError("--scan goes with --text")
    query = SearchQuery(
        participant=args.participant,
        business_id=args.business,
        customer_id=args.customer,
        start=args.start,
        end=args.end,
        direction=args.direction,
        type=args.type,
        message_id=args.message_id,
        provider=args.provider,
    )
    page = audited_search(archive, query, page_size=args.limit, continuation=args.page)

    def human() -> None:
        _table(page.rows, COLUMNS)
        if page.continuation:
            print(f"more: --page {page.continuation}")

    _emit(args, page.to_json(), human)
    return 0


def _run_show(args: argparse.Namespace, archive: Archive) -> int:
    detail = audited_detail(archive, args.message_id)

    def human() -> None:
        p = printable
        print(f"message {p(detail.message_id)}  latest status: {p(detail.latest_status or '-')}")
        print(f"record  {p(detail.record_path or '-')}")
        if detail.raw:
            print(f"raw     {p(detail.raw.get('path'))}  sha256 {p(detail.raw.get('sha256'))}")
        print("timeline:")
        for item in detail.timeline:
            print(f"  {p(item['timestamp'])}  {p(item['status'])}")
        if detail.call_timeline:
            print("call timeline:")
        for call in detail.call_timeline:
            codes = ",".join(p(e.get("code")) for e in call["errors"] if isinstance(e, dict))
            print(f"  {p(call['timestamp'])}  {p(call['event'])}  {p(call['status'] or '-')}"
                  f"  start={p(call['start_time'] or '-')}  end={p(call['end_time'] or '-')}"
                  f"  duration={p('-' if call['duration'] is None else call['duration'])}"
                  f"  errors={codes or '-'}")
        for media in detail.media:
            print(f"media   {p(media['media_id'])}  {p(media['state'])}  size={p(media['size'])}"
                  f"  sha256={p(media['sha256'])}  tier={p(media['access_tier'] or '-')}")
            if media.get("recovery_path"):
                print(f"        recovered later: addendum {p(media['recovery_path'])}")
        print(printable_lines(
            json.dumps(detail.record, indent=2, sort_keys=True, ensure_ascii=False)))

    _emit(args, detail.to_json(), human)
    return 0


def _run_audit(args: argparse.Namespace, archive: Archive) -> int:
    entries = recent_entries(archive, days=args.days, limit=args.limit)
    rows = [
        e.entry | {"blob": e.name,
                   "service_time": e.service_time.isoformat() if e.service_time else None}
        for e in entries
    ]

    def human() -> None:
        _table(rows, ("when", "service_time", "who", "action", "phase", "result"))

    _emit(args, rows, human)
    return 0


def _handler(run: Callable[[argparse.Namespace, Archive], int]) -> Callable[..., int]:
    def handle(args: argparse.Namespace) -> int:
        try:
            return run(args, open_archive(args.account, args.data_dir))
        except AdminError as exc:
            print(f"wa-archive {args.command}: {printable(exc)}", file=sys.stderr)
            return 2

    return handle


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--account and --data-dir: which archive, and which local settings file."""
    parser.add_argument(
        "--account", help="archive storage account name (Entra ID sign-in, no keys); "
        f"default: ${SETTING_ARCHIVE_STORAGE} or the data folder's settings.json"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help=f"the data folder `wa-archive dev` uses (default: ${DATA_DIR_SETTING}, "
        "else .wa-archive in this checkout); never the current directory",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("backlog", help="ingest queue depth, oldest message, poison depth")
    _common(p)
    p.set_defaults(handler=_handler(_run_backlog))

    p = subparsers.add_parser(
        "failures", help="poison messages, failed/terminated/canceled orchestrations and the "
        "failures index"
    )
    _common(p)
    p.add_argument("--days", type=int, default=DEFAULT_WINDOW_DAYS,
                   help=f"orchestrations created in the last N days "
                   f"(default {DEFAULT_WINDOW_DAYS})")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="failures-table rows from this day")
    p.add_argument("--limit", type=int, default=200, help="rows per failure kind")
    p.set_defaults(handler=_handler(_run_failures))

    p = subparsers.add_parser(
        "replay", help="replay poison messages, restart failed orchestrations, refetch media gaps"
    )
    _common(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id", action="append",
        help="a failure id from `wa-archive failures` (repeatable): a poison message id, "
        "orchestration:<instance id>, media_unavailable:<row key> or deadletter:<row key>",
    )
    which.add_argument("--all-poison", action="store_true", help="replay every poison message")
    p.set_defaults(handler=_handler(_run_replay))

    p = subparsers.add_parser("search", help="search the index (newest first, paged)")
    _common(p)
    p.add_argument("--participant", help="phone number, BSUID or group id")
    p.add_argument("--business", help="business id (with --customer: one conversation)")
    p.add_argument("--customer", help="customer id (with --business)")
    p.add_argument("--from", dest="start", type=parse_when, help="YYYY-MM-DD or ISO time")
    p.add_argument("--to", dest="end", type=lambda t: parse_when(t, end=True),
                   help="YYYY-MM-DD (inclusive) or ISO time")
    p.add_argument("--direction", choices=("inbound", "outbound"))
    p.add_argument("--type", help="provider type: text, image, status, call, ...")
    p.add_argument("--message-id", help="one message: all its events")
    p.add_argument("--provider", choices=PROVIDERS, help="only this provider's events")
    p.add_argument("--limit", type=int, default=DEFAULT_PAGE, help="rows per page")
    p.add_argument("--page", help="continuation token printed by the previous page")
    p.add_argument("--text", metavar="PHRASE",
                   help="keyword search: a phrase or 'A NEAR/n B', matched like the lexicon "
                   "(case, accents and punctuation ignored) in texts, captions, document "
                   "names and edits; with --participant, --from, --to (default: 30 days)")
    p.add_argument("--scan", action="store_true",
                   help="with --text: read every record of the range instead of the term index")
    p.set_defaults(handler=_handler(_run_search))

    p = subparsers.add_parser(
        "show", help="one message (record, status timeline, media) or call (call timeline)"
    )
    _common(p)
    p.add_argument("message_id")
    p.set_defaults(handler=_handler(_run_show))

    p = subparsers.add_parser("audit", help="recent admin actions and views")
    _common(p)
    p.add_argument("--days", type=int, default=1, help="how many days back (default today)")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(handler=_handler(_run_audit))
