"""`wa-archive custody check` and `wa-archive reconcile`: prove the archive is whole.

custody check re-proves each record from its raw body (admin.custody); it needs the
secrets that verify signatures: `WHATSAPP_APP_SECRET` and `CUSTODY_MAC_KEY` from the
environment, else the data folder's settings.json that `wa-archive dev` writes.
In Azure an auditor reads them from Key Vault into the environment for the run.

reconcile runs the daily raw -> records reconciliation for one day by hand
(storage.reconcile), writing `reconcile_missing` rows unless --dry-run.
Exit codes: 0 all proven, 1 a record failed (or, with --strict, a secret retired),
2 the check could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from typing import Any

from admin.audit import audited
from admin.connection import AdminError, Archive, open_archive, settings_file_values
from admin.custody import CustodyReport, check_custody
from admin.text import printable
from archive.custody import METHOD_META, METHOD_OUTBOUND, METHOD_TWILIO
from archive.names import (
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_APP_SECRET,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_TWILIO_AUTH_TOKEN,
)
from cli.admin_commands import add_target_options
from storage.reconcile import reconcile_day


def _secret_values(name: str, file_values: dict[str, Any] | None) -> list[str]:
    value = os.environ.get(name, "").strip() or str((file_values or {}).get(name, ""))
    return [part.strip() for part in value.split(",") if part.strip()]


def custody_secrets(args: argparse.Namespace) -> dict[str, list[str]]:
    file_values = None
    if not os.environ.get(SETTING_APP_SECRET):
        file_values = settings_file_values(args.data_dir)
    secrets: dict[str, list[str]] = {
        METHOD_META: _secret_values(SETTING_APP_SECRET, file_values),
        METHOD_OUTBOUND: _secret_values(SETTING_CUSTODY_MAC_KEY, file_values),
        # Twilio's signature is kept verbatim: it re-verifies with the auth token. WASender
        # and ACS bodies carry the front door's MAC, checked with CUSTODY_MAC_KEY.
        METHOD_TWILIO: _secret_values(SETTING_TWILIO_AUTH_TOKEN, file_values),
    }
    if not secrets[METHOD_META]:
        raise AdminError(
            f"custody check needs {SETTING_APP_SECRET} (and {SETTING_CUSTODY_MAC_KEY}) to "
            "verify signatures: set them in the environment, e.g. from Key Vault"
        )
    return secrets


def _progress(args: argparse.Namespace) -> Any:
    if args.json or not sys.stderr.isatty():
        return None

    def show(count: int) -> None:
        if count % 100 == 0:
            print(f"\r{count} records checked", end="", file=sys.stderr, flush=True)

    return show


def _print_report(report: CustodyReport) -> None:
    print(f"records checked:  {report.checked}")
    print(f"verified:         {report.verified}")
    print(f"media addenda:    {report.addenda}")
    print(f"secret retired:   {len(report.retired)}")
    print(f"failed:           {len(report.failed)}")
    for item in report.retired:
        print(f"  RETIRED {printable(item.path)}: signature kept, secret retired")
    for item in report.failed:
        print(f"  FAILED  {printable(item.path)}: {printable('; '.join(item.problems))}")


def run_check(args: argparse.Namespace, archive: Archive) -> int:
    secrets = custody_secrets(args)
    target = {"from": str(args.start or ""), "to": str(args.end or ""), "strict": args.strict}
    with audited(archive, "custody_check", target) as run:
        report = archive.call("blob", "read records and raw bodies", lambda: check_custody(
            archive.container(RECORDS_CONTAINER), archive.container(RAW_CONTAINER), secrets,
            start=args.start, end=args.end, progress=_progress(args),
        ))
        run.result = (f"ok: {report.verified} verified, {len(report.retired)} retired, "
                      f"{len(report.failed)} failed")
    if _progress(args):
        print(file=sys.stderr)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print_report(report)
    return 0 if report.ok(strict=args.strict) else 1


def run_reconcile(args: argparse.Namespace, archive: Archive) -> int:
    target = {"day": str(args.day), "dry_run": args.dry_run}
    with audited(archive, "reconcile", target) as run:
        report = archive.call("table", "reconcile raw bodies and records", lambda: reconcile_day(
            archive.blobs, archive.tables, args.day, write_rows=not args.dry_run,
        ))
        run.result = f"ok: {len(report.missing)} missing"
    summary = report.to_dict()
    if args.json:
        summary["missing_items"] = [
            {"raw_path": m.raw_path, "index": m.index, "instance_id": m.instance_id}
            for m in report.missing
        ]
        json.dump(summary, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        for key, value in summary.items():
            print(f"{key + ':':<12} {value}")
        for item in report.missing:
            print(f"  MISSING {printable(item.raw_path)} event #{item.index}")
    return 1 if report.missing else 0


def _handler(run: Any) -> Any:
    def handle(args: argparse.Namespace) -> int:
        try:
            return int(run(args, open_archive(args.account, args.data_dir)))
        except (AdminError, ValueError) as exc:
            print(f"wa-archive {args.command}: {printable(exc)}", file=sys.stderr)
            return 2

    return handle


def register(subparsers: Any) -> None:
    custody = subparsers.add_parser("custody", help="chain of custody checks")
    actions = custody.add_subparsers(dest="custody_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="re-prove every record from its signed raw body (exit 1 on a failure)"
    )
    add_target_options(check)
    check.add_argument("--from", dest="start", type=date.fromisoformat, metavar="YYYY-MM-DD",
                       help="first record day (records sit under their event's day)")
    check.add_argument("--to", dest="end", type=date.fromisoformat, metavar="YYYY-MM-DD",
                       help="last record day (inclusive)")
    check.add_argument("--strict", action="store_true",
                       help="also fail on signatures whose secret was retired")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_handler(run_check))

    reconcile = subparsers.add_parser(
        "reconcile", help="check one day's raw bodies against records (exit 1 if any missing)"
    )
    add_target_options(reconcile)
    reconcile.add_argument("--day", type=date.fromisoformat, required=True,
                           metavar="YYYY-MM-DD", help="the receive day to reconcile")
    reconcile.add_argument("--dry-run", action="store_true",
                           help="report only; write no reconcile_missing rows")
    reconcile.add_argument("--json", action="store_true", help="machine-readable output")
    reconcile.set_defaults(handler=_handler(run_reconcile))
