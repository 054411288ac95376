"""`wa-archive`: one console script; each subcommand lives in its own module.

A subcommand module exposes `register(subparsers)`, which adds its parser and
sets `handler` (a callable taking the parsed args and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

SUBCOMMAND_MODULES = (
    "cli.dev",
    "cli.lock_retention",
    "cli.admin_commands",
    "cli.custody",
    "cli.evidence",
    "cli.cost",
    "cli.export",
    "cli.holds",
    "cli.lexicon",
    "cli.retention",
    "cli.review",
    "cli.status",
    "cli.tui_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wa-archive", description="WhatsApp compliance archive: local runtime and admin tools."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: stop quietly, like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
