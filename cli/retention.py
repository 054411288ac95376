"""`wa-archive retention run [--dry-run] [--json]`: dispose of expired records by hand.

Does what the daily retention timer does: finishes any interrupted run, deletes every
version of each record whose provider day is before the cut-off (today minus
ARCHIVE_RETENTION_DAYS), with its media and the raw bodies all of whose events go,
skips whatever a legal hold or unexpired immutability keeps, deletes the disposed
records' index rows, and writes a disposal certificate into `seals/disposals/`.
--dry-run prints what would go and what is held, by matter, and changes nothing.

Exit codes: 0 done (held or skipped blobs are not failures), 2 it could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from admin import retention
from admin.connection import AdminError, open_archive
from admin.text import printable
from cli.admin_commands import add_target_options
from storage.retention_run import RetentionReport

_COUNT_KEYS = ("index_rows", "latest_status_rows", "held", "skipped", "bytes")


def _progress(args: argparse.Namespace) -> Any:
    if args.json or not sys.stderr.isatty():
        return None

    def show(stage: str, count: int) -> None:
        print(f"\r{stage}: {count} blobs", end="", file=sys.stderr, flush=True)

    return show


def _blobs(counts: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in sorted(counts.items()) if k not in _COUNT_KEYS]
    return ", ".join(parts) or "nothing"


def _print_held(held: dict[str, list[str]]) -> None:
    if not held:
        print("held: nothing")
        return
    print("held, by matter:")
    for matter, names in held.items():
        print(f"  {printable(matter)}: {len(names)} blob(s)")
        for name in names:
            print(f"    {printable(name)}")


def _print(report: RetentionReport) -> None:
    print(f"retention: {report.retention_days} days; records of provider days before "
          f"{report.cutoff} expire")
    for run in report.resumed:
        counts = run["counts"]
        print(f"finished interrupted run {run['run']}: deleted {_blobs(counts['deleted'])}; "
              f"certificate {run['certificate']}")
    for run in report.runs:
        if report.dry_run:
            print(f"would delete: {_blobs(run['would_delete'])} ({run['bytes']} bytes)")
            for item in run["skipped"]:
                print(f"  skipped {printable(item['container'])}/{printable(item['name'])}:"
                      f" {item['reason']}")
            _print_held(run["held"])
            continue
        counts = run["counts"]
        print(f"run {run['run']}: deleted {_blobs(counts['deleted'])} "
              f"({counts['versions']} versions, {counts['bytes']} bytes); index rows "
              f"{counts['index_rows']}, latest-status rows {counts['latest_status_rows']}; "
              f"held {counts['held']}, skipped {counts['skipped']}")
        for matter, count in run["held_by_matter"].items():
            print(f"  held by {printable(matter)}: {count} blob(s)")
        print(f"  certificate seals/{run['certificate']}")
    if report.more:
        print("stopped at the time budget: the next run continues")
    print("DRY RUN: nothing was changed" if report.dry_run else "OK")


def run_retention(args: argparse.Namespace) -> int:
    try:
        archive = open_archive(args.account, args.data_dir)
        report = retention.run(archive, dry_run=args.dry_run, data_dir=args.data_dir,
                               progress=_progress(args))
    except (AdminError, ValueError) as exc:
        print(f"wa-archive retention: {printable(exc)}", file=sys.stderr)
        return 2
    if _progress(args):
        print(file=sys.stderr)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print(report)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retention", help="dispose of expired records (honours legal holds), with certificates")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run", help="delete what ARCHIVE_RETENTION_DAYS expired, write a disposal certificate")
    add_target_options(run)
    run.add_argument("--dry-run", action="store_true",
                     help="print what would go and what is held, by matter; change nothing")
    run.add_argument("--json", action="store_true", help="machine-readable output")
    run.set_defaults(handler=run_retention)
