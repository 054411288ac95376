"""`wa-archive hold place | release | resume | list | check`: legal holds (issue 11).

place records the matter in the Holds table (it binds new events within a minute),
then sets a version-level legal hold on every blob version in scope, showing progress
on stderr. It then waits about 75 s for the pipeline's hold caches to learn of the matter
and makes one more pass, so events archived meanwhile are held too; `--no-wait` skips
the wait and leaves the matter `applying` until `hold resume`. release does the same in
reverse, clearing only holds no other in-force matter needs.

Exit codes: 0 done; 1 the matter is still applying/releasing (run `hold resume`);
2 the command could not run (bad input, no access, unknown matter).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from admin.connection import AdminError, Archive, open_archive
from admin.holds import (
    check_message,
    hold_json,
    list_holds,
    place_hold,
    release_hold,
    resume_hold,
)
from admin.text import printable
from archive.scope import ScopeError, scope_from_args
from cli.admin_commands import add_target_options
from storage.hold_apply import SETTLE
from storage.holds import HoldProgress, HoldRow


def _progress(args: argparse.Namespace) -> Any:
    quiet = args.json or not sys.stderr.isatty()

    def show(progress: HoldProgress, what: str) -> None:
        line = (f"{what}: {progress.records_done} records, {progress.blobs_held} held, "
                f"{progress.blobs_released} released, {progress.blobs_kept} kept")
        if quiet:
            if what.startswith("waiting"):  # a long silent wait would look like a hang
                print(printable(what), file=sys.stderr, flush=True)
            return
        print(f"\r{printable(line)}\033[K", end="", file=sys.stderr, flush=True)

    return show


def _settle(args: argparse.Namespace) -> timedelta:
    return timedelta(seconds=args.settle_seconds)


def _finish(args: argparse.Namespace, row: HoldRow) -> int:
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        json.dump(hold_json(row), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print_one(row)
    if row.matter.state in ("applying", "releasing"):
        print(f"matter {printable(row.matter.matter_id)} is still {row.matter.state}: "
              f"run `wa-archive hold resume --matter ...` after the settling time",
              file=sys.stderr)
        return 1
    return 0


def _print_one(row: HoldRow) -> None:
    data = hold_json(row)
    p = row.progress
    print(f"matter:     {printable(data['matter'])}  ({data['state']})")
    print(f"scope:      {printable(data['scope_text'])}")
    print(f"reason:     {printable(data['reason'])}")
    print(f"placed:     {data['placed_at']} by {printable(data['placed_by'])}")
    if data["released_at"]:
        print(f"released:   {data['released_at']} by {printable(data['released_by'])}")
    print(f"last pass:  {p.records_done} records, {p.blobs_held} held, {p.blobs_released} "
          f"released, {p.blobs_kept} kept (another matter), {p.blobs_gone} gone")
    if p.blobs_unsupported:
        print(f"            {p.blobs_unsupported} blobs have no legal-hold support here "
              "(Azurite): the Holds table is what protects them")


def run_place(args: argparse.Namespace, archive: Archive) -> int:
    scope = scope_from_args(
        participant=args.participant, business=args.business, customer=args.customer,
        message_id=args.message_id, start=args.start, end=args.end,
    )
    row = place_hold(archive, args.matter, scope, args.reason, progress=_progress(args),
                     wait=not args.no_wait, settle=_settle(args))
    return _finish(args, row)


def run_release(args: argparse.Namespace, archive: Archive) -> int:
    row = release_hold(archive, args.matter, progress=_progress(args),
                       wait=not args.no_wait, settle=_settle(args))
    return _finish(args, row)


def run_resume(args: argparse.Namespace, archive: Archive) -> int:
    row = resume_hold(archive, args.matter, progress=_progress(args),
                      wait=not args.no_wait, settle=_settle(args))
    return _finish(args, row)


def run_list(args: argparse.Namespace, archive: Archive) -> int:
    rows = list_holds(archive)
    if not args.all:
        rows = [r for r in rows if r.matter.state != "released"]
    if args.json:
        json.dump([hold_json(r) for r in rows], sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no matters" + ("" if args.all else " in force (--all shows released ones)"))
    for index, row in enumerate(rows):
        if index:
            print()
        _print_one(row)
    return 0


def run_check(args: argparse.Namespace, archive: Archive) -> int:
    found = check_message(archive, args.message_id)
    if args.json:
        json.dump(found, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if not found:
        print("no records of this message in the index")
    for item in found:
        held = ", ".join(item["matters"]) or "not held"
        print(f"{printable(item['timestamp'])}  {printable(item['event']):<8} "
              f"{printable(held)}  {printable(item['record_path'])}")
    return 0


def _handler(run: Any) -> Any:
    def handle(args: argparse.Namespace) -> int:
        try:
            return int(run(args, open_archive(args.account, args.data_dir)))
        except (AdminError, ScopeError, ValueError) as exc:
            print(f"wa-archive hold {args.hold_command}: {printable(exc)}", file=sys.stderr)
            return 2

    return handle


def _job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matter", required=True, help="the matter id (e.g. a case number)")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for the pipeline's hold caches; finish later "
                        "with `hold resume` (exit 1 meanwhile)")
    parser.add_argument("--settle-seconds", type=float, default=SETTLE.total_seconds(),
                        help="how long after placing/releasing the last pass starts "
                        "(default %(default)s: the pipeline's cache time plus a margin)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: Any) -> None:
    hold = subparsers.add_parser("hold", help="legal holds: place, release, list")
    actions = hold.add_subparsers(dest="hold_command", required=True, metavar="ACTION")

    place = actions.add_parser("place", help="place a legal hold over a scope")
    add_target_options(place)
    _job_options(place)
    place.add_argument("--reason", required=True, help="why (kept with the matter)")
    who = place.add_mutually_exclusive_group(required=True)
    who.add_argument("--participant", help="a phone number, BSUID or group id")
    who.add_argument("--business", help="the firm's number id (with --customer)")
    who.add_argument("--message-id", help="one message and all its events")
    place.add_argument("--customer", help="the customer (with --business)")
    place.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                       help="first provider day covered (UTC)")
    place.add_argument("--to", dest="end", metavar="YYYY-MM-DD",
                       help="last provider day covered (UTC, inclusive)")
    place.set_defaults(handler=_handler(run_place))

    release = actions.add_parser("release", help="release a matter's legal holds")
    add_target_options(release)
    _job_options(release)
    release.set_defaults(handler=_handler(run_release))

    resume = actions.add_parser("resume", help="finish an interrupted place or release")
    add_target_options(resume)
    _job_options(resume)
    resume.set_defaults(handler=_handler(run_resume))

    listing = actions.add_parser("list", help="matters in force (--all: released too)")
    add_target_options(listing)
    listing.add_argument("--all", action="store_true", help="include released matters")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_handler(run_list))

    check = actions.add_parser("check", help="which matters hold a message's records")
    add_target_options(check)
    check.add_argument("--message-id", required=True, help="the provider message id")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_handler(run_check))
