"""Record which flags azure-cli accepts for every `az` command docs/deploy.md runs.

azure-cli with its dependencies is about 730 MB and took 2.5 minutes to install
here, too much for every fresh `scripts/bootstrap`, so the flags are recorded once
in az_cli_flags.json, straight from azure-cli's own argument parser, and
tests/bicep/test_runbook.py checks the runbook against that file. Regenerate it
after adding an `az` command to the runbook, with azure-cli in a throwaway
virtualenv (this file needs only the standard library and azure-cli):

    python3.11 -m venv /tmp/azcli && /tmp/azcli/bin/pip install azure-cli
    /tmp/azcli/bin/python -m tests.bicep.az_cli_flags > tests/bicep/az_cli_flags.json

(run from the repository root; tests/bicep/runbook.py, which it imports, needs
only the standard library)
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.bicep.runbook import DEPLOY_DOC, az_commands, command_path


def _options(parser: Any) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for action in parser._actions:
        for option in action.option_strings:
            options[option] = {
                "takes_value": action.nargs != 0,
                "many": action.nargs in ("+", "*"),
                "choices": sorted(str(c) for c in action.choices) if action.choices else None,
            }
    return options


def main() -> None:
    from azure.cli.core import __version__, get_default_cli  # type: ignore[import-untyped]
    from azure.cli.core.file_util import (  # type: ignore[import-untyped]
        create_invoker_and_load_cmds_and_args,
    )

    cli = get_default_cli()
    create_invoker_and_load_cmds_and_args(cli)
    invocation: Any = cli.invocation
    table = set(invocation.commands_loader.command_table)
    parser = invocation.parser
    commands: dict[str, Any] = {}
    for args in az_commands(DEPLOY_DOC.read_text(encoding="utf-8")):
        path = command_path(args, table)
        if path is None or path in commands:
            continue
        words = path.split()
        leaf = parser.subparsers[tuple(words[:-1])].choices[words[-1]]
        commands[path] = {
            "options": _options(leaf),
            "required": sorted(
                sorted(a.option_strings) for a in leaf._actions
                if a.required and a.option_strings
            ),
        }
    json.dump({"azure-cli": __version__, "commands": commands}, sys.stdout, indent=1,
              sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
