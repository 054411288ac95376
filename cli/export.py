"""`wa-archive export | verify-export`: productions for regulators and review platforms.

export --out PATH (--participant P | --business B --customer C | --matter ID)
       [--from D --to D] [--tz Europe/London] [--format bundle,html,pdf,rsmf]
       [--transcript-period range|day] [--json]
    PATH ending .zip gives one zip, else a folder. Written into PATH.partial (and
    NAME.partial.zip) and renamed only when complete; rerun the same command to resume.
verify-export PATH [--public-key key.pem] [--json]
    checks the bundle offline (no Azure access).

Exit codes: 0 ok, 1 a finding (verify-export), 2 the command could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from admin.connection import AdminError, open_archive
from admin.export import ExportOptions, ExportProgress, ExportResult, run_export, zone
from admin.export_verify import ExportCheck, verify_export
from admin.text import printable
from archive.export.bundle import PERIODS, BundleError, parse_formats
from archive.scope import ScopeError, scope_from_args
from cli.admin_commands import add_target_options

_MIB = 1024 * 1024
# Not a terminal (a CI log, a pipe): one progress line this often, not a redrawn bar.
LINE_EVERY_SECONDS = 10.0
BAR_EVERY_SECONDS = 0.2


def _dump(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


class ProgressView:
    """Events and bytes with an ETA on stderr: a bar on a terminal, periodic lines else."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.started = time.monotonic()
        self.last = 0.0
        self.phase = ""

    @staticmethod
    def _eta(done: int, total: int, elapsed: float) -> str:
        if done <= 0 or total <= done or elapsed <= 0:
            return ""
        left = (total - done) * elapsed / done
        return f" ETA {int(left // 60)}m{int(left % 60):02d}s"

    def text(self, p: ExportProgress) -> str:
        elapsed = time.monotonic() - self.started
        if p.phase == "records" and p.events_total:
            share = p.events_done / p.events_total
            eta = self._eta(p.events_done, p.events_total, elapsed)
        elif p.bytes_total:
            share = min(1.0, p.bytes_done / p.bytes_total)
            eta = self._eta(p.bytes_done, p.bytes_total, elapsed)
        else:
            share, eta = 0.0, ""
        bar = "#" * int(share * 20)
        return (f"{p.phase:<10} [{bar:<20}] events {p.events_done}/{p.events_total} "
                f"media {p.bytes_done / _MIB:.1f}/{p.bytes_total / _MIB:.1f} MiB{eta}")

    def __call__(self, p: ExportProgress) -> None:
        now = time.monotonic()
        changed = p.phase != self.phase
        every = BAR_EVERY_SECONDS if self.tty else LINE_EVERY_SECONDS
        if not changed and now - self.last < every:
            return
        self.last, self.phase = now, p.phase
        if self.tty:
            print(f"\r{self.text(p)}", end="", file=sys.stderr, flush=True)
        else:
            print(self.text(p), file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _scope(args: argparse.Namespace) -> Any:
    if args.matter:
        if args.participant or args.business or args.customer:
            raise AdminError("--matter exports the hold's own scope: give no other selector")
        if args.start or args.end:
            raise AdminError("--matter exports the hold's own dates: give no --from/--to")
        return None
    return scope_from_args(participant=args.participant, business=args.business,
                           customer=args.customer, start=args.start, end=args.end)


def run_export_command(args: argparse.Namespace) -> int:
    try:
        scope = _scope(args)
        formats = parse_formats(args.format)
    except (ScopeError, BundleError) as exc:
        raise AdminError(str(exc)) from None
    options = ExportOptions(out=args.out, scope=scope, matter_id=args.matter, formats=formats,
                            tz_name=args.tz, period=args.transcript_period,
                            data_dir=args.data_dir)
    zone(args.tz)  # a typo in the zone is reported before any storage call
    archive = open_archive(args.account, args.data_dir)
    view = None if args.json else ProgressView(sys.stderr.isatty())
    try:
        result = run_export(archive, options, progress=view)
    finally:
        if view is not None:
            view.end()
    _report(args, result)
    return 0


def _report(args: argparse.Namespace, result: ExportResult) -> None:
    if args.json:
        _dump(result.to_dict())
        return
    counts = result.counts
    print(f"export written to {result.out}" + (" (resumed)" if result.resumed else ""))
    print(f"  records {counts.get('records', 0)}, media {counts.get('media', 0)}, "
          f"raw bodies {counts.get('raw', 0)}, conversations {counts.get('conversations', 0)}")
    print(f"  files {counts.get('files', 0)} ({counts.get('bytes', 0)} bytes)")
    if counts.get("unsealed"):
        print(f"  unsealed (no proof yet): {counts['unsealed']} blob(s), listed in the manifest")
    if counts.get("media_gaps"):
        print(f"  media gaps: {counts['media_gaps']}, listed in the manifest")
    print(f"  manifest sha256 {result.manifest_sha256} (recorded in the audit trail)")
    print(f"check it: wa-archive verify-export {result.out} --public-key seal-key.pem")


def _print_check(check: ExportCheck) -> None:
    print(f"files:    {check.files} ({check.bytes} bytes)")
    print(f"records:  {check.records}")
    print(f"proofs:   {check.proofs} checked, {check.unsealed} blob(s) unsealed")
    print(f"seals:    {check.seals} (key: {check.key_source or 'none'})")
    for finding in check.findings:
        print(f"  FAILED {printable(finding.path)}: {printable(finding.reason)}")
    print("VERIFIED" if check.ok else "NOT VERIFIED")


def run_verify_export(args: argparse.Namespace) -> int:
    check = verify_export(args.path, args.public_key)
    if args.json:
        _dump(check.to_dict())
    else:
        _print_check(check)
    return 0 if check.ok else 1


def _handler(run: Any) -> Any:
    def handle(args: argparse.Namespace) -> int:
        try:
            return int(run(args))
        except (AdminError, ValueError) as exc:
            print(f"wa-archive {args.command}: {printable(exc)}", file=sys.stderr)
            return 2

    return handle


def register(subparsers: Any) -> None:
    export = subparsers.add_parser(
        "export", help="produce a conversation, participant or legal hold with proofs")
    add_target_options(export)
    export.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="the production: a folder, or PATH.zip for one zip")
    export.add_argument("--participant", metavar="P", help="a phone number or user id")
    export.add_argument("--business", metavar="B", help="the firm's phone number id")
    export.add_argument("--customer", metavar="C", help="the customer (with --business)")
    export.add_argument("--matter", metavar="ID", help="export a legal hold's scope")
    export.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                        help="first provider day (UTC)")
    export.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last provider day (UTC)")
    export.add_argument("--tz", default="UTC", metavar="ZONE",
                        help="time zone for local times (IANA, e.g. Europe/London)")
    export.add_argument("--format", default="bundle", metavar="LIST",
                        help="comma list of bundle,html,pdf,rsmf (the bundle is always made)")
    export.add_argument("--transcript-period", choices=PERIODS, default="range",
                        help="one transcript per conversation (range) or per day")
    export.add_argument("--json", action="store_true", help="machine-readable result")
    export.set_defaults(handler=_handler(run_export_command))

    check = subparsers.add_parser(
        "verify-export", help="check an export bundle offline (exit 1 on any finding)")
    check.add_argument("path", type=Path, help="the export folder or zip")
    check.add_argument("--public-key", type=Path, metavar="KEY.pem",
                       help="check the seals with this key (default: the bundled one)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_handler(run_verify_export))
