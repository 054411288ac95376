"""`wa-archive status [--json]`: one health summary for scripts, cron jobs and people.

Exit code 0 when every check is OK, 1 on a warning, 2 when critical (and, as every
admin command, 2 when the archive cannot be read). The rules are archive.health's;
what each check means and what to do: docs/operations.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from admin.connection import AdminError, open_archive
from admin.status import seal_schedule, status
from admin.text import printable
from archive.health import (
    MAX_LAG_SECONDS,
    MAX_QUEUE_AGE_SECONDS,
    SEAL_GRACE,
    Health,
    Thresholds,
)
from cli.admin_commands import add_target_options

LEVEL_WORDS = {"ok": "OK", "warn": "WARN", "crit": "CRIT"}


def render(health: Health) -> str:
    """The human form: one line per check, then the summary line."""
    width = max(len(c.name) for c in health.checks)
    lines = [f"{LEVEL_WORDS[c.level]:<4}  {c.name:<{width}}  {printable(c.summary)}"
             for c in health.checks]
    lines.append(health.summary())
    return "\n".join(lines)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        archive = open_archive(args.account, args.data_dir)
        thresholds = Thresholds(
            max_queue_age_seconds=args.max_queue_age,
            max_lag_seconds=args.max_lag,
            seal_grace=timedelta(minutes=args.seal_grace),
            seal_schedule=args.seal_schedule or seal_schedule(args.data_dir),
        )
        health = status(archive, thresholds=thresholds)
    except AdminError as exc:
        print(f"wa-archive status: {printable(exc)}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(health.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(health))
    return health.exit_code


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "status", help="health summary: queues, failures, seals, verification, lag, holds "
        "(exit 0 ok, 1 warn, 2 crit)",
    )
    add_target_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--max-queue-age", type=_seconds, default=MAX_QUEUE_AGE_SECONDS,
                   metavar="SECONDS", help="warn when the oldest ingest message is older "
                   f"(default {MAX_QUEUE_AGE_SECONDS:.0f})")
    p.add_argument("--max-lag", type=_seconds, default=MAX_LAG_SECONDS, metavar="SECONDS",
                   help="warn when messages wait and no record was written for this long "
                   f"(default {MAX_LAG_SECONDS:.0f})")
    p.add_argument("--seal-grace", type=float,
                   default=SEAL_GRACE.total_seconds() / 60, metavar="MINUTES",
                   help="critical when yesterday has no seal this long after the seal timer "
                   f"(default {SEAL_GRACE.total_seconds() / 60:.0f})")
    p.add_argument("--seal-schedule", metavar="NCRONTAB",
                   help="the seal timer's schedule (default: $SEAL_SCHEDULE, the data "
                   "folder's settings.json, else the app's default '0 30 1 * * *')")
    p.set_defaults(handler=run)
