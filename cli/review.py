"""`wa-archive review list | show | mark`: the lexicon review queue (issue 16).

list shows flags by status (open by default) over a bounded range of days; show prints
one flag with its decisions and the message amid the 5 before and 5 after it in its
conversation; mark records a decision (reviewed, escalated, false-positive) with a
comment, as a create-only blob naming the reviewer. All three are audited.

Exit codes: 0 done; 1 failed (not found, no access, storage unreachable); 2 usage
(a malformed flag id, status, date or an empty comment).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from admin.connection import AdminError, Archive, open_archive
from admin.review import (
    DECISION_STATUSES,
    STATUS_FILTERS,
    FlagError,
    list_flags,
    mark,
    show_flag,
)
from admin.text import printable, printable_lines
from cli.admin_commands import add_target_options


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a day as YYYY-MM-DD") from None


def _dump(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


def _matched(hits: Any) -> str:
    words = [str(w) for hit in hits or () if isinstance(hit, dict)
             for w in hit.get("matched") or ()]
    return ", ".join(words)


def run_list(args: argparse.Namespace, archive: Archive) -> int:
    listing = list_flags(archive, args.status, args.start, args.end, args.limit)
    if args.json:
        _dump(listing.to_json())
        return 0
    if not listing.flags:
        what = "" if args.status == "all" else f"{args.status} "
        print(f"no {what}flags from {listing.days[-1]} to {listing.days[0]}")
    for flag in listing.flags:
        row = flag.row
        rules = ", ".join(map(str, row["rules"]))
        print(f"{flag.id}  {flag.status:<14} {printable(row.get('timestamp'))}  "
              f"{printable(row.get('direction')):<8} {printable(rules)}  "
              f"[{printable(_matched(row.get('hits')))}]")
    if listing.truncated:
        print(f"(stopped at --limit {args.limit}; narrow --from/--to for more)",
              file=sys.stderr)
    if listing.ignored_decisions:
        print(f"warning: {listing.ignored_decisions} blob(s) in the decisions folders are "
              "not valid decisions and were ignored (docs/review.md)", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace, archive: Archive) -> int:
    flag = show_flag(archive, args.id)
    if args.json:
        _dump(flag)
        return 0
    print(f"flag:      {flag['id']}  ({flag['status']})")
    print(f"rules:     {printable(', '.join(map(str, flag['rules'])))}  "
          f"(policy v{printable(flag['policy_version'])})")
    for hit in flag["hits"]:
        print(f"  {printable(hit.get('rule'))} in {printable(hit.get('field'))}: "
              f"{printable(', '.join(map(str, hit.get('matched') or ())))}")
    print(f"message:   {printable(flag['message_id'])}  {printable(flag['direction'])}  "
          f"{printable(flag['timestamp'])}")
    print(f"record:    {printable(flag['record_path'])}")
    print()
    for message in flag["context"]:
        mark_ = ">>" if message["flagged"] else "  "
        print(f"{mark_} {printable(message['timestamp'])}  {printable(message['direction']):<8} "
              f"{printable(message['from'])} -> {printable(message['to'])}  "
              f"[{printable(message['event'])}/{printable(message['type'])}]")
        text = message["text"]
        body = "(record unreadable)" if text is None else (text or "(no text)")
        for line in printable_lines(body).splitlines() or [""]:
            print(f"{mark_}     {line}")
    print()
    if not flag["decisions"]:
        print("no decisions yet")
    for decision in flag["decisions"]:
        print(f"{printable(decision['stored_at'] or decision['decided_at'])}  "
              f"{printable(decision['status']):<14} {printable(decision['reviewer'])}: "
              f"{printable(decision['comment'])}")
    return 0


def run_mark(args: argparse.Namespace, archive: Archive) -> int:
    done = mark(archive, args.id, args.status, args.comment)
    if args.json:
        _dump(done)
        return 0
    print(f"{done['id']}: {done['previous']} -> {done['status']} "
          f"(by {printable(done['reviewer'])})")
    return 0


def _handler(run: Any) -> Any:
    def handle(args: argparse.Namespace) -> int:
        label = f"wa-archive review {args.review_command}"
        try:
            return int(run(args, open_archive(args.account, args.data_dir)))
        except FlagError as exc:  # the input itself is wrong: a usage error
            print(f"{label}: {printable(exc)}", file=sys.stderr)
            return 2
        except AdminError as exc:
            message = printable(exc)
            if "permission denied" in message:  # the audit append, refused
                message += " (reviewer role? docs/review.md)"
            print(f"{label}: {message}", file=sys.stderr)
            return 1

    return handle


def register(subparsers: Any) -> None:
    review = subparsers.add_parser("review", help="lexicon flags: list, show, mark")
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="flags by status, newest day first")
    add_target_options(listing)
    listing.add_argument("--status", choices=STATUS_FILTERS, default="open",
                         help="which flags (default: open)")
    listing.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD",
                         help="first provider day (default: 29 days before --to)")
    listing.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD",
                         help="last provider day (default: today, UTC)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many flags")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_handler(run_list))

    show = actions.add_parser("show", help="a flag, its decisions, its conversation context")
    add_target_options(show)
    show.add_argument("id", help="the flag id, e.g. 2026-12-05.0123456789abcdef")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=_handler(run_show))

    decide = actions.add_parser("mark", help="record a decision on a flag (latest wins)")
    add_target_options(decide)
    decide.add_argument("id", help="the flag id")
    decide.add_argument("--status", choices=DECISION_STATUSES, required=True)
    decide.add_argument("--comment", required=True, help="why (kept in the decision)")
    decide.add_argument("--json", action="store_true", help="machine-readable output")
    decide.set_defaults(handler=_handler(run_mark))
