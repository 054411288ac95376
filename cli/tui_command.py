"""`wa-archive tui`: the Textual admin app (imported lazily: the CLI stays quick)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from admin.connection import AdminError, data_dir, open_archive
from admin.durable_api import open_durable
from admin.text import printable
from cli.admin_commands import add_target_options


def run(args: argparse.Namespace) -> int:
    try:
        archive = open_archive(args.account, args.data_dir)
        durable = open_durable(args.data_dir)
    except AdminError as exc:
        print(f"wa-archive tui: {printable(exc)}", file=sys.stderr)
        return 2
    from admin.metrics_local import metrics_dir
    from tui.app import ArchiveAdminApp

    ArchiveAdminApp(
        archive,
        refresh_seconds=args.refresh,
        durable=durable,
        metrics_folder=metrics_dir(data_dir(args.data_dir)),
    ).run()
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("tui", help="admin terminal UI: backlog, failures, search")
    add_target_options(parser)
    parser.add_argument("--refresh", type=float, default=10.0, help="dashboard refresh seconds")
    parser.set_defaults(handler=run)
